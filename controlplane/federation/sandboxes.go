package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// Sandbox operations another region may ask for.
const (
	opTerminate  = "terminate"
	opSetTimeout = "set_timeout"
)

// maxLocated bounds the remembered sandbox → server entries.
const maxLocated = 16384

// LocalSandboxes is this region's sandbox service, as other regions use
// it.
type LocalSandboxes interface {
	Get(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	Terminate(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	SetTimeout(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error)
}

// Serve lets other regions reach this region's sandboxes through svc,
// and create sandboxes here when svc is also a Creator.
func (f *Federation) Serve(svc LocalSandboxes) {
	f.sandboxes.Store(&svc)
	if c, ok := svc.(Creator); ok {
		f.creator.Store(&c)
	}
}

func (f *Federation) localSandboxes() (LocalSandboxes, error) {
	p := f.sandboxes.Load()
	if p == nil {
		return nil, apperr.New(apperr.Unavailable, "region %s is starting", f.cfg.Region)
	}
	return *p, nil
}

// GetSandbox answers another region's lookup.
func (f *Federation) GetSandbox(ctx context.Context, req *serverpb.SandboxRequest) (*serverpb.SandboxReply, error) {
	if err := f.checkCaller(req.GetCaller()); err != nil {
		return nil, err
	}
	svc, err := f.localSandboxes()
	if err != nil {
		return nil, err
	}
	sb, err := svc.Get(sandboxes.LocalOnly(ctx), req.GetTeamId(), req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	return f.sandboxReply(sb)
}

// SandboxOp changes a sandbox of this region for another region.
func (f *Federation) SandboxOp(ctx context.Context, req *serverpb.SandboxRequest) (*serverpb.SandboxReply, error) {
	if err := f.checkCaller(req.GetCaller()); err != nil {
		return nil, err
	}
	svc, err := f.localSandboxes()
	if err != nil {
		return nil, err
	}
	ctx = sandboxes.LocalOnly(ctx)
	var sb *structs.Sandbox
	switch req.GetOp() {
	case opTerminate:
		sb, err = svc.Terminate(ctx, req.GetTeamId(), req.GetSandboxId())
	case opSetTimeout:
		sb, err = svc.SetTimeout(ctx, req.GetTeamId(), req.GetSandboxId(), int(req.GetTimeoutSeconds()))
	default:
		return nil, apperr.New(apperr.InvalidArgument, "unknown sandbox operation %q", req.GetOp())
	}
	if err != nil {
		return nil, err
	}
	return f.sandboxReply(sb)
}

func (f *Federation) sandboxReply(sb *structs.Sandbox) (*serverpb.SandboxReply, error) {
	b, err := json.Marshal(sb)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	addr := ""
	if n := f.cfg.Local.State().Snapshot().NodeByID(sb.NodeID); n != nil {
		addr = n.RPCAddr
	}
	return &serverpb.SandboxReply{Sandbox: b, AgentRpcAddr: addr}, nil
}

// located remembers which server of which region answered for a sandbox.
type located struct {
	mu    sync.Mutex
	where map[string]string // sandbox id → server RPC address
}

func (l *located) get(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.where[id]
}

func (l *located) put(id, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.where == nil || len(l.where) >= maxLocated {
		l.where = map[string]string{}
	}
	l.where[id] = addr
}

// Locate finds a team's sandbox in another region: the server that
// answered last time for it, else every other healthy region at once.
func (f *Federation) Locate(ctx context.Context, teamID, id string) (*structs.Sandbox, string, error) {
	reply, _, err := f.askRegions(ctx, id, func(ctx context.Context, c serverpb.ServerClient) (*serverpb.SandboxReply, error) {
		return c.GetSandbox(ctx, &serverpb.SandboxRequest{Caller: f.caller(), TeamId: teamID, SandboxId: id})
	})
	if err != nil {
		return nil, "", err
	}
	sb, err := decodeSandbox(reply)
	return sb, reply.GetAgentRpcAddr(), err
}

// Terminate stops a sandbox of another region, in its region.
func (f *Federation) Terminate(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	return f.sandboxOp(ctx, &serverpb.SandboxRequest{TeamId: teamID, SandboxId: id, Op: opTerminate})
}

// SetTimeout sets the lifetime of a sandbox of another region, in its
// region.
func (f *Federation) SetTimeout(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error) {
	return f.sandboxOp(ctx, &serverpb.SandboxRequest{TeamId: teamID, SandboxId: id, Op: opSetTimeout, TimeoutSeconds: int64(seconds)})
}

func (f *Federation) sandboxOp(ctx context.Context, req *serverpb.SandboxRequest) (*structs.Sandbox, error) {
	req.Caller = f.caller()
	if _, _, err := f.Locate(ctx, req.GetTeamId(), req.GetSandboxId()); err != nil {
		return nil, err
	}
	reply, _, err := f.askRegions(ctx, req.GetSandboxId(), func(ctx context.Context, c serverpb.ServerClient) (*serverpb.SandboxReply, error) {
		return c.SandboxOp(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return decodeSandbox(reply)
}

func decodeSandbox(r *serverpb.SandboxReply) (*structs.Sandbox, error) {
	var sb structs.Sandbox
	if err := json.Unmarshal(r.GetSandbox(), &sb); err != nil {
		return nil, fmt.Errorf("federation: decode sandbox: %w", err)
	}
	return &sb, nil
}

// askRegions sends call to the server remembered for the sandbox, or else
// to one server of every other healthy region at once, and returns the
// first answer that is not NOT_FOUND. It is NOT_FOUND when every region
// said so, naming the regions that could not be asked.
func (f *Federation) askRegions(ctx context.Context, id string, call func(context.Context, serverpb.ServerClient) (*serverpb.SandboxReply, error)) (*serverpb.SandboxReply, string, error) {
	if addr := f.located.get(id); addr != "" {
		if reply, err := f.ask(ctx, addr, call); err == nil || !errors.Is(err, apperr.ErrNotFound) && apperr.CodeOf(err) != apperr.Unavailable {
			return reply, addr, err
		}
	}
	targets, unreachable := f.oneServerPerRegion()
	type answer struct {
		addr  string
		reply *serverpb.SandboxReply
		err   error
	}
	answers := make(chan answer, len(targets))
	for _, addr := range targets {
		go func() {
			r, err := f.ask(ctx, addr, call)
			answers <- answer{addr, r, err}
		}()
	}
	var failed error
	for range targets {
		a := <-answers
		switch {
		case a.err == nil:
			f.located.put(id, a.addr)
			return a.reply, a.addr, nil
		case errors.Is(a.err, apperr.ErrNotFound):
			continue
		case errors.Is(a.err, apperr.ErrUnavailable):
			unreachable = append(unreachable, f.regionOf(a.addr))
		}
		if failed == nil {
			failed = a.err
		}
	}
	if failed != nil && !errors.Is(failed, apperr.ErrUnavailable) {
		return nil, "", failed // a region that holds it refused (e.g. a bad timeout)
	}
	if len(unreachable) > 0 || failed != nil {
		return nil, "", apperr.New(apperr.NotFound, "sandbox %q not found (regions not reachable now: %s)", id, strings.Join(unreachable, ", "))
	}
	return nil, "", apperr.New(apperr.NotFound, "sandbox %q not found", id)
}

// regionOf names the region of a probed server ("?" when unknown).
func (f *Federation) regionOf(addr string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.servers[addr]; p != nil && p.region != "" {
		return p.region
	}
	return "?"
}

func (f *Federation) ask(ctx context.Context, addr string, call func(context.Context, serverpb.ServerClient) (*serverpb.SandboxReply, error)) (*serverpb.SandboxReply, error) {
	conn, err := f.cfg.Dial.Conn(addr)
	if err != nil {
		return nil, apperr.New(apperr.Unavailable, "%v", err)
	}
	r, err := call(ctx, serverpb.NewServerClient(conn))
	return r, forward.FromStatus(err)
}

// oneServerPerRegion picks the most recently reached server of every other
// healthy region, and names the regions with none.
func (f *Federation) oneServerPerRegion() (targets, unreachable []string) {
	for _, r := range f.Regions() {
		if r.Name == f.cfg.Region || r.Refused {
			continue
		}
		servers := f.serversOf(r.Name)
		if !r.Healthy || len(servers) == 0 {
			unreachable = append(unreachable, r.Name)
			continue
		}
		targets = append(targets, servers[0])
	}
	return targets, unreachable
}
