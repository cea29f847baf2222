package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/store"
)

// DefaultMaxWait bounds how long a forwarded call waits for a leader when
// the caller's context has no earlier deadline: a little over a leader
// election.
const DefaultMaxWait = 5 * time.Second

// retryPause is the pause before asking again who the leader is.
const retryPause = 25 * time.Millisecond

// DefaultAttemptTimeout bounds one call to the leader: a leader cut off by
// a partition drops packets, and a call must not wait for TCP to give up.
const DefaultAttemptTimeout = 5 * time.Second

// Local is what the forwarder needs of this server's store.
type Local interface {
	Apply(ctx context.Context, t command.Type, req any) (any, error)
	State() *state.Store
	IsLeader() bool
	LeaderID() string
	// WaitApplied waits until this server has applied index.
	WaitApplied(ctx context.Context, index uint64) error
}

// readYourWrites bounds the wait, after a forwarded write of teams or keys,
// for this server to apply it too.
const readYourWrites = 2 * time.Second

// waitsLocally reports whether a forwarded write of type t returns only
// once this server has applied it too. Teams and keys: a caller creates a
// team and then a key for it, reading the team here. Not sandboxes: a
// follower learns of a commit with the leader's next heartbeat, up to
// 100 ms later, and a sandbox's readers catch up on a miss instead
// (sandboxes.Config.CatchUp).
func waitsLocally(t command.Type) bool {
	return t == command.TeamUpsert || t == command.APIKeyUpsert || t == command.AccountUpdate
}

// Dialer gives a client connection to a server's RPC address; connections
// are shared and owned by the dialer.
type Dialer interface {
	Conn(addr string) (grpc.ClientConnInterface, error)
}

// Config wires a Forwarder.
type Config struct {
	Local Local
	Dial  Dialer
	// RPCAddr returns the RPC address of a server of the region by node id
	// (e.g. from the state's servers table). ok is false when unknown.
	RPCAddr func(nodeID string) (addr string, ok bool)
	// MaxWait bounds waiting for a leader (DefaultMaxWait when zero).
	MaxWait time.Duration
	// AttemptTimeout bounds each call to a remote leader
	// (DefaultAttemptTimeout when zero).
	AttemptTimeout time.Duration
}

// Forwarder sends writes and leader-only calls to the leader.
type Forwarder struct {
	cfg Config
}

// New returns a forwarder.
func New(cfg Config) *Forwarder {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	return &Forwarder{cfg: cfg}
}

// State returns the local replica of the state, for reads.
func (f *Forwarder) State() *state.Store { return f.cfg.Local.State() }

// Apply commits a command on the leader, wherever that is, and returns the
// state machine's result (decoded with command.NewResult when it came over
// the wire). It satisfies the Store interfaces of the services.
func (f *Forwarder) Apply(ctx context.Context, t command.Type, req any) (any, error) {
	var result any
	err := f.OnLeader(ctx, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if local {
			r, err := f.cfg.Local.Apply(ctx, t, req)
			result = r
			return err
		}
		r, idx, err := remoteApply(ctx, c, t, req)
		result = r
		if err == nil && waitsLocally(t) {
			// The caller's next read on this server sees its write.
			wctx, cancel := context.WithTimeout(ctx, readYourWrites)
			_ = f.cfg.Local.WaitApplied(wctx, idx)
			cancel()
		}
		return err
	})
	return result, err
}

// remoteApply sends a command to the leader and returns its result and
// the leader's applied index after it.
func remoteApply(ctx context.Context, c serverpb.ServerClient, t command.Type, req any) (any, uint64, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, 0, fmt.Errorf("forward %v: %w", t, err)
	}
	reply, err := c.Apply(ctx, &serverpb.ApplyRequest{Type: uint32(t), Payload: payload})
	if err != nil {
		return nil, 0, FromStatus(err)
	}
	res := command.NewResult(t)
	if res == nil || len(reply.GetResult()) == 0 {
		return nil, reply.GetIndex(), nil
	}
	if err := json.Unmarshal(reply.GetResult(), res); err != nil {
		return nil, 0, fmt.Errorf("forward %v: decode result: %w", t, err)
	}
	return res, reply.GetIndex(), nil
}

// OnLeader runs call once on the leader: with local=true when this server
// is the leader, otherwise with a client of the leader's RPC service. A
// call refused because the server it reached is not (or no longer) the
// leader is tried again once the leader is known, until ctx or MaxWait
// ends; any other outcome is final. call must return errors of a remote
// call already converted with FromStatus.
func (f *Forwarder) OnLeader(ctx context.Context, call func(ctx context.Context, local bool, c serverpb.ServerClient) error) error {
	return f.OnLeaderWithin(ctx, f.cfg.AttemptTimeout, call)
}

// OnLeaderWithin is OnLeader with its own bound on one call to the
// leader, for calls that take longer than a commit (a sandbox's cold
// start).
func (f *Forwarder) OnLeaderWithin(ctx context.Context, attempt time.Duration, call func(ctx context.Context, local bool, c serverpb.ServerClient) error) error {
	deadline := time.Now().Add(f.cfg.MaxWait)
	for {
		err := f.tryLeader(ctx, attempt, call)
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil || time.Now().Add(retryPause).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryPause):
		}
	}
}

// errNoLeaderAddr: a leader is known but not yet its RPC address (it
// records it in the state right after it wins).
var errNoLeaderAddr = errors.New("forward: the leader's RPC address is not known yet")

func (f *Forwarder) tryLeader(ctx context.Context, attempt time.Duration, call func(ctx context.Context, local bool, c serverpb.ServerClient) error) error {
	if f.cfg.Local.IsLeader() {
		return call(ctx, true, nil)
	}
	leader := f.cfg.Local.LeaderID()
	if leader == "" {
		return fmt.Errorf("%w: %w", apperr.New(apperr.Unavailable, "no leader is known in this region (no quorum?)"), store.ErrNotLeader)
	}
	addr, ok := f.cfg.RPCAddr(leader)
	if !ok {
		return fmt.Errorf("%w: %w", apperr.New(apperr.Unavailable, "the leader %s has not published its RPC address yet", leader), errNoLeaderAddr)
	}
	conn, err := f.cfg.Dial.Conn(addr)
	if err != nil {
		return apperr.New(apperr.Unavailable, "leader %s at %s: %v", leader, addr, err)
	}
	actx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	err = call(actx, false, serverpb.NewServerClient(conn))
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		return apperr.New(apperr.Unavailable, "the leader %s at %s did not answer within %v (cut off?); a change sent to it may or may not have been applied",
			leader, addr, attempt)
	}
	return err
}

// retryable reports whether the call certainly did not happen because the
// server asked was not the leader.
func retryable(err error) bool {
	return errors.Is(err, store.ErrNotLeader) || errors.Is(err, errNoLeaderAddr)
}
