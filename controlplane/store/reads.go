package store

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/apperr"
)

// ReadIndex, on the leader, returns an index that a linearizable read must
// wait for (see WaitApplied): the commit index, taken before a quorum
// confirms that this server still leads. A server that is not the leader,
// or loses leadership meanwhile (it cannot reach a quorum), answers
// UNAVAILABLE wrapping ErrNotLeader.
//
// Right after an election the leader's commit index can lag what the
// previous leader committed, until an entry of the new term commits;
// ReadIndex then commits a barrier first. ctx, and ApplyTimeout, bound the
// wait (DEADLINE_EXCEEDED wrapping ErrTimeout).
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	if s.raft == nil {
		return 0, coded(apperr.Unavailable, ErrNotOpen, "the store is not open")
	}
	if s.raft.State() != raft.Leader {
		return 0, s.notLeader()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()

	term := s.raft.CurrentTerm()
	index := s.raft.CommitIndex()
	if !s.hasTerm(index, term) {
		if err := await(ctx, s.raft.Barrier(s.cfg.ApplyTimeout)); err != nil {
			return 0, s.readError(err)
		}
		index = s.raft.CommitIndex()
	}
	if err := await(ctx, s.raft.VerifyLeader()); err != nil {
		return 0, s.readError(err)
	}
	if s.raft.CurrentTerm() != term {
		// Leadership was lost and won again: index may predate entries
		// another leader committed in between.
		return 0, s.notLeader()
	}
	return index, nil
}

// hasTerm reports whether the entry at index is in the log and of term.
func (s *Store) hasTerm(index, term uint64) bool {
	var l raft.Log
	return s.wal.GetLog(index, &l) == nil && l.Term == term
}

// WaitApplied waits until this server's state has applied index, as
// returned by ReadIndex on the leader (or by CommitIndex), or until ctx
// ends (DEADLINE_EXCEEDED wrapping ErrTimeout). State reads made after it
// returns see every write committed up to index.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	if s.raft == nil {
		return coded(apperr.Unavailable, ErrNotOpen, "the store is not open")
	}
	var tick *time.Ticker
	for {
		applied, moved := s.applied.get()
		if applied >= index || s.nothingToApply(applied, index) {
			return nil
		}
		if s.raft.State() == raft.Shutdown {
			return coded(apperr.Unavailable, ErrClosed, "the server is shutting down")
		}
		if tick == nil {
			tick = time.NewTicker(pollInterval)
			defer tick.Stop()
		}
		select {
		case <-moved:
		case <-tick.C: // entries the state machine does not see (no-ops, barriers)
		case <-ctx.Done():
			return coded(apperr.DeadlineExceeded, ErrTimeout, "the state did not reach index %d in time (it is at %d)", index, applied)
		}
	}
}

// nothingToApply reports whether Raft has handed the state machine every
// entry up to index and none after applied is a command: the entries in
// between (no-ops, barriers, configuration changes) do not touch the
// state.
func (s *Store) nothingToApply(applied, index uint64) bool {
	if s.raft.AppliedIndex() < index {
		return false
	}
	first, err := s.wal.FirstIndex()
	if err != nil {
		return false
	}
	for i := index; i > applied; i-- {
		if first == 0 || i < first {
			return true // compacted: covered by a snapshot already applied
		}
		var l raft.Log
		if err := s.wal.GetLog(i, &l); err != nil || l.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// await waits for a Raft future or for ctx. The future's own goroutine
// ends when Raft answers it, which it always does (at the latest when it
// steps down or shuts down).
func await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return coded(apperr.DeadlineExceeded, ErrTimeout, "the leader could not confirm its leadership in time")
	}
}

// readError turns an error from a leadership check into a coded error:
// any loss of leadership is ErrNotLeader, since nothing was written.
func (s *Store) readError(err error) error {
	switch {
	case errors.Is(err, ErrTimeout):
		return err
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return s.notLeader()
	}
	return s.raftError(err)
}
