package store

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/apperr"
)

// Errors of the store. Errors from Apply, the membership calls, reads and
// snapshots carry an apperr code and wrap one of these, so both
// errors.Is(err, ErrNotLeader) and errors.Is(err, apperr.ErrUnavailable)
// hold.
var (
	// ErrNotLeader: this server is not the leader; send the command to
	// LeaderAddr (code UNAVAILABLE).
	ErrNotLeader = errors.New("store: not the leader")
	// ErrLeadershipLost: leadership was lost before the command was known
	// to be committed; it may or may not be applied (code UNAVAILABLE).
	ErrLeadershipLost = errors.New("store: leadership lost while committing")
	// ErrNotOpen: the store has not been opened (code UNAVAILABLE).
	ErrNotOpen = errors.New("store: not open")
	// ErrClosed: the store is closed or shutting down (code UNAVAILABLE).
	ErrClosed = errors.New("store: closed")
	// ErrTimeout: the command or the wait did not complete in time (code
	// DEADLINE_EXCEEDED).
	ErrTimeout = errors.New("store: timed out")
	// ErrBadSnapshot: a snapshot file given to RestoreSnapshot does not
	// parse, is truncated or fails its checksum (code INVALID_ARGUMENT).
	ErrBadSnapshot = errors.New("store: bad snapshot file")
)

// coded wraps cause under an apperr error with code and message, keeping
// both in the chain.
func coded(code apperr.Code, cause error, format string, args ...any) error {
	return fmt.Errorf("%w: %w", apperr.New(code, format, args...), cause)
}

// raftError turns an error from hashicorp/raft into a coded store error.
func (s *Store) raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return s.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost):
		return coded(apperr.Unavailable, ErrLeadershipLost, "the server lost leadership while committing; the change may or may not have been applied")
	case errors.Is(err, raft.ErrRaftShutdown):
		return coded(apperr.Unavailable, ErrClosed, "the server is shutting down")
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return coded(apperr.DeadlineExceeded, ErrTimeout, "the command could not be queued in time")
	}
	return coded(apperr.Internal, err, "raft")
}

func (s *Store) notLeader() error {
	if addr := s.LeaderAddr(); addr != "" {
		return coded(apperr.Unavailable, ErrNotLeader, "this server is not the leader (the leader is %s)", addr)
	}
	return coded(apperr.Unavailable, ErrNotLeader, "this server is not the leader and no leader is known")
}
