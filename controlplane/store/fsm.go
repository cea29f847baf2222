package store

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// fsm adapts the state to raft.FSM. Raft calls Apply, Snapshot and Restore
// from one goroutine; Persist runs concurrently with later Applies, on the
// point-in-time snapshot taken by Snapshot.
type fsm struct {
	state   *state.Store
	onEvent func(structs.SandboxEvent)
	// onNodeEvent, when set, is called after a node is registered, goes
	// DOWN or comes back READY; like onEvent it runs on the state
	// machine's goroutine and must not block.
	onNodeEvent func(structs.NodeEvent)
	log         *slog.Logger
}

var _ raft.FSM = (*fsm)(nil)

// Apply applies one committed command. It returns the command's result or
// its business error, which Raft hands to the caller of Store.Apply.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.apply(l.Index, l.Data)
}

// Snapshot captures the state at the last applied index. It is cheap: the
// dump is written later, by Persist.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.state.Snapshot()}, nil
}

// Restore replaces the whole state with a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.state.Restore(rc); err != nil {
		return fmt.Errorf("store: restore snapshot: %w", err)
	}
	f.log.Info("state restored from snapshot", "index", f.state.Index())
	return nil
}

type fsmSnapshot struct {
	snap *state.Snapshot
}

// Persist writes the state dump to the sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.snap.Dump(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("store: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("store: persist snapshot: %w", err)
	}
	return nil
}

// Release does nothing: a state snapshot holds no resources.
func (s *fsmSnapshot) Release() {}
