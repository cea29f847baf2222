package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/vivaldi"
)

// Defaults for zero Config fields.
const (
	DefaultProbeInterval = time.Second
	DefaultPollWait      = 2 * time.Second
	probeTimeout         = 2 * time.Second
	healthyWithin        = 5 * time.Second
)

// ErrConflict: another region names another region as authoritative.
var ErrConflict = errors.New("federation: the regions disagree on which one is authoritative")

// Local is what federation needs of this region.
type Local interface {
	Apply(ctx context.Context, t command.Type, req any) (any, error)
	State() *state.Store
	IsLeader() bool
	LeaderAddr() string
}

// Config wires a Federation.
type Config struct {
	Region        string
	RPCAddr       string // this server's, given to the servers it calls so that they probe it back
	Authoritative string // the region that owns the global state
	// Peers returns the RPC addresses of servers of other regions (static
	// --federate, or Consul).
	Peers func(ctx context.Context) ([]string, error)
	Dial  forward.Dialer
	// Local is this region's store through its forwarder: writes reach
	// the leader.
	Local         Local
	ProbeInterval time.Duration
	PollWait      time.Duration // how long a ListGlobal long-poll waits
	// UsageInterval is how often the region's leader reports its usage
	// totals (DefaultUsageInterval when zero).
	UsageInterval time.Duration
	Logger        *slog.Logger
	// Coordinates is this server's network coordinate: probes observe the
	// probed servers' coordinates with it, and a region's latency is
	// estimated from it (package vivaldi). Nil: off, latency is the
	// probes' smallest round trip.
	Coordinates *vivaldi.Estimator
}

// Federation is one server's view of the other regions.
type Federation struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	servers   map[string]*peerState // RPC address → what its probes saw
	repl      replication
	coords    vivaldi.Book             // the probed servers' coordinates
	summaries map[string]regionSummary // region → the newest summary a probe brought

	sandboxes atomic.Pointer[LocalSandboxes] // set by Serve
	creator   atomic.Pointer[Creator]        // set by Serve
	located   located
}

type peerState struct {
	addr      string
	region    string
	leader    string
	claims    string          // the region it holds authoritative
	rtts      []time.Duration // the last probes' round trips, newest last
	lastOK    time.Time
	refused   bool
	refusedAt time.Time
}

// replication is what the replicator last achieved.
type replication struct {
	index   uint64    // the authoritative region's index last applied
	applied time.Time // when
	changes int       // records changed by the last round
}

// New returns a Federation; call Run.
func New(cfg Config) *Federation {
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = DefaultPollWait
	}
	if cfg.UsageInterval <= 0 {
		cfg.UsageInterval = DefaultUsageInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Federation{cfg: cfg, log: cfg.Logger, servers: map[string]*peerState{}, summaries: map[string]regionSummary{}}
}

// IsAuthoritative reports whether this region owns the global state.
func (f *Federation) IsAuthoritative() bool { return f.cfg.Region == f.cfg.Authoritative }

// Authoritative names the region that owns the global state.
func (f *Federation) Authoritative() string { return f.cfg.Authoritative }

// Region is this server's region.
func (f *Federation) Region() string { return f.cfg.Region }

func (f *Federation) caller() *serverpb.Caller {
	return &serverpb.Caller{Region: f.cfg.Region, AuthoritativeRegion: f.cfg.Authoritative, RpcAddr: f.cfg.RPCAddr}
}

// Heard learns of a server of another region that probed this one, so
// that every server of a region knows every region probing it. A conflict
// is logged and refused by the calls that matter (checkCaller).
func (f *Federation) Heard(c *serverpb.Caller) {
	if c.GetRegion() != f.cfg.Region && c.GetAuthoritativeRegion() == f.cfg.Authoritative {
		_ = f.checkCaller(c)
	}
}

// checkCaller refuses a region that holds another region authoritative,
// and remembers the caller's address, so that a region learns of the
// regions that replicate from it without being told of them.
func (f *Federation) checkCaller(c *serverpb.Caller) error {
	if a := c.GetRpcAddr(); a != "" && c.GetRegion() != f.cfg.Region {
		f.mu.Lock()
		if f.servers[a] == nil {
			f.servers[a] = &peerState{addr: a, region: c.GetRegion()}
		}
		f.mu.Unlock()
	}
	if c.GetAuthoritativeRegion() != f.cfg.Authoritative {
		f.log.Error("refusing a region that names another authoritative region", "event", "federation_conflict",
			"peer_region", c.GetRegion(), "peer_authoritative", c.GetAuthoritativeRegion(), "authoritative", f.cfg.Authoritative)
		return fmt.Errorf("%w: %w", apperr.New(apperr.FailedPrecondition,
			"region %q holds %q authoritative, this region holds %q: fix --authoritative-region so that every region names the same one",
			c.GetRegion(), c.GetAuthoritativeRegion(), f.cfg.Authoritative), ErrConflict)
	}
	return nil
}

// Apply commits a change to the global state where it belongs: here when
// this region is authoritative, otherwise in the authoritative region.
func (f *Federation) Apply(ctx context.Context, t command.Type, req any) (any, error) {
	if f.IsAuthoritative() {
		return f.cfg.Local.Apply(ctx, t, req)
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	var reply *serverpb.ApplyReply
	err = f.onAuthoritative(ctx, func(ctx context.Context, c serverpb.ServerClient) (err error) {
		reply, err = c.ApplyGlobal(ctx, &serverpb.ApplyGlobalRequest{Caller: f.caller(), Type: uint32(t), Payload: payload})
		return err
	})
	if err != nil {
		return nil, err
	}
	res := command.NewResult(t)
	if res == nil || len(reply.GetResult()) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(reply.GetResult(), res); err != nil {
		return nil, fmt.Errorf("federation: decode result: %w", err)
	}
	return res, nil
}

// onAuthoritative makes a call to the servers of the authoritative
// region, the most recently reached first, until one answers: whatever
// it answers, an error included, but UNAVAILABLE. When none does, the
// error is UNAVAILABLE.
func (f *Federation) onAuthoritative(ctx context.Context, call func(context.Context, serverpb.ServerClient) error) error {
	var lastErr error
	for _, addr := range f.serversOf(f.cfg.Authoritative) {
		conn, err := f.cfg.Dial.Conn(addr)
		if err != nil {
			lastErr = err
			continue
		}
		err = forward.FromStatus(call(ctx, serverpb.NewServerClient(conn)))
		if err == nil || apperr.CodeOf(err) != apperr.Unavailable {
			return err
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("no server of it is known")
	}
	return apperr.New(apperr.Unavailable, "the authoritative region %s cannot be reached: %v", f.cfg.Authoritative, lastErr)
}

// State returns this region's state, for reads.
func (f *Federation) State() *state.Store { return f.cfg.Local.State() }

// serversOf lists the probed, not refused, servers of a region, the most
// recently reached first.
func (f *Federation) serversOf(region string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []*peerState
	for _, p := range f.servers {
		if p.region == region && !p.refused {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *peerState) int { return b.lastOK.Compare(a.lastOK) })
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.addr
	}
	return out
}

// globalCommand reports whether a command type writes global state.
func globalCommand(t command.Type) bool {
	return t == command.TeamUpsert || t == command.APIKeyUpsert || t == command.AccountUpdate
}

// ApplyGlobal commits another region's global write (this region is the
// authoritative one).
func (f *Federation) ApplyGlobal(ctx context.Context, req *serverpb.ApplyGlobalRequest) (*serverpb.ApplyReply, error) {
	if err := f.checkCaller(req.GetCaller()); err != nil {
		return nil, err
	}
	if !f.IsAuthoritative() {
		return nil, apperr.New(apperr.FailedPrecondition, "region %s is not authoritative; send global writes to %s", f.cfg.Region, f.cfg.Authoritative)
	}
	t := command.Type(req.GetType())
	if !globalCommand(t) {
		return nil, apperr.New(apperr.InvalidArgument, "%v is not a change of global state", t)
	}
	cmd, err := command.DecodePayload(t, req.GetPayload())
	if err != nil {
		return nil, apperr.New(apperr.InvalidArgument, "%v", err)
	}
	res, err := f.cfg.Local.Apply(ctx, t, cmd)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("federation: encode result: %w", err)
	}
	return &serverpb.ApplyReply{Result: b}, nil
}

// ListGlobal returns the global state once the local state's index passes
// since, or when the wait ends.
func (f *Federation) ListGlobal(ctx context.Context, req *serverpb.ListGlobalRequest) (*serverpb.ListGlobalReply, error) {
	if err := f.checkCaller(req.GetCaller()); err != nil {
		return nil, err
	}
	if !f.IsAuthoritative() {
		return nil, apperr.New(apperr.FailedPrecondition, "region %s is not authoritative; replicate from %s", f.cfg.Region, f.cfg.Authoritative)
	}
	wait := min(time.Duration(req.GetWaitMs())*time.Millisecond, 30*time.Second)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	snap, err := f.cfg.Local.State().WaitForIndex(wctx, req.GetSinceIndex()+1)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		snap = f.cfg.Local.State().Snapshot() // nothing new: answer with what is
	}
	teams, err := json.Marshal(snap.Teams())
	if err != nil {
		return nil, err
	}
	var keys []*structs.APIKey
	for _, t := range snap.Teams() {
		keys = append(keys, snap.APIKeysByTeam(t.ID)...)
	}
	kb, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	accounts, err := json.Marshal(snap.Accounts())
	if err != nil {
		return nil, err
	}
	return &serverpb.ListGlobalReply{Index: snap.Index(), Teams: teams, ApiKeys: kb, Accounts: accounts}, nil
}
