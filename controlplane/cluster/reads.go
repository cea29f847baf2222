package cluster

import (
	"context"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
)

// Consistency is how fresh a read must be, as in the API.
type Consistency string

// Consistency levels.
const (
	// Stale reads this server's state as it is, even cut off from the
	// leader.
	Stale Consistency = "STALE"
	// Default reads this server's state if it has heard from a leader
	// within MaxStale (the leader itself always may).
	Default Consistency = "DEFAULT"
	// Linearizable reads only after this server has applied everything
	// the leader had committed when the read began, leadership confirmed
	// by a quorum.
	Linearizable Consistency = "LINEARIZABLE"
)

// Barrier returns once a read at level may be served from the local
// state, or an error saying why it may not (UNAVAILABLE, INVALID_ARGUMENT).
func (c *Cluster) Barrier(ctx context.Context, level Consistency) error {
	s := c.cfg.Store
	switch level {
	case Stale:
		return nil
	case Default, "":
		if s.IsLeader() {
			return nil
		}
		if s.LeaderID() == "" {
			return apperr.New(apperr.Unavailable, "this server knows no leader; read with consistency STALE to get its possibly old state")
		}
		if since := time.Since(s.LastContact()); since > c.cfg.MaxStale {
			return apperr.New(apperr.Unavailable, "this server has not heard from the leader for %s; read with consistency STALE to get its possibly old state", since.Round(time.Millisecond))
		}
		return nil
	case Linearizable:
		var idx uint64
		err := c.fwd.OnLeader(ctx, func(ctx context.Context, local bool, cl serverpb.ServerClient) error {
			if local {
				i, err := s.ReadIndex(ctx)
				idx = i
				return err
			}
			r, err := cl.ReadIndex(ctx, &serverpb.ReadIndexRequest{})
			idx = r.GetIndex()
			return fromStatus(err)
		})
		if err != nil {
			return err
		}
		return s.WaitApplied(ctx, idx)
	}
	return apperr.New(apperr.InvalidArgument, "unknown consistency %q: use STALE, DEFAULT or LINEARIZABLE", level)
}

// fromStatus restores an error of a remote call.
func fromStatus(err error) error { return forward.FromStatus(err) }
