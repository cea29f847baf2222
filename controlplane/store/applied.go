package store

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// Raft's AppliedIndex counts entries handed to the state machine, not
// entries it has finished applying, and the state's own index moves only
// with successful writes. WaitApplied needs to know when the state machine
// is done with an index, so the store wraps the state machine and the
// snapshot store to record the last index it applied or restored.

// appliedIndex is the index of the last command the state machine applied
// or of the snapshot it restored, with a way to wait for it to move.
type appliedIndex struct {
	mu    sync.Mutex
	index uint64
	moved chan struct{} // closed when index moves; nil while nobody waits
}

// set raises the index to i.
func (a *appliedIndex) set(i uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i <= a.index {
		return
	}
	a.index = i
	if a.moved != nil {
		close(a.moved)
		a.moved = nil
	}
}

// get returns the index and a channel closed when it next moves.
func (a *appliedIndex) get() (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.moved == nil {
		a.moved = make(chan struct{})
	}
	return a.index, a.moved
}

// trackedFSM is the state machine Raft sees: fsm, recording what it
// applies. Raft calls it from one goroutine.
type trackedFSM struct {
	*fsm
	applied *appliedIndex
}

var _ raft.FSM = (*trackedFSM)(nil)

// Apply applies a command and records its index.
func (t *trackedFSM) Apply(l *raft.Log) any {
	resp := t.fsm.Apply(l)
	if l.Type == raft.LogCommand {
		t.applied.set(l.Index)
	}
	return resp
}

// Restore restores a snapshot and records its index, which Raft passes
// along through trackedSnapshots.
func (t *trackedFSM) Restore(rc io.ReadCloser) error {
	index := uint64(0)
	if m, ok := rc.(*indexedReader); ok {
		index = m.index
	}
	if err := t.fsm.Restore(rc); err != nil {
		return err
	}
	t.applied.set(index)
	return nil
}

// trackedSnapshots is the snapshot store Raft sees: every snapshot it
// opens carries its index, for trackedFSM.Restore.
type trackedSnapshots struct {
	raft.SnapshotStore
}

// Open opens a snapshot.
func (t trackedSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := t.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	return meta, &indexedReader{ReadCloser: rc, index: meta.Index}, nil
}

// indexedReader is a snapshot's content and the index it ends at.
type indexedReader struct {
	io.ReadCloser
	index uint64
}
