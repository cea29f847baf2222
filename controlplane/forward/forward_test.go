package forward_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// local is a scripted store: a leader or a follower of leaderID whose
// Apply answers from script, one answer a call.
type local struct {
	leader   bool
	leaderID string
	st       *state.Store

	applied uint64 // what AppliedIndex reports

	mu     sync.Mutex
	calls  int
	waited uint64 // the index WaitApplied was last asked for
	script []func(req any) (any, error)
}

func (l *local) Apply(_ context.Context, _ command.Type, req any) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := min(l.calls, len(l.script)-1)
	l.calls++
	return l.script[i](req)
}
func (l *local) State() *state.Store  { return l.st }
func (l *local) IsLeader() bool       { return l.leader }
func (l *local) LeaderID() string     { return l.leaderID }
func (l *local) AppliedIndex() uint64 { return l.applied }
func (l *local) WaitApplied(_ context.Context, index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waited = index
	return nil
}

func (l *local) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// leaderServer serves the Server RPCs of a leader backed by l, over real
// gRPC on loopback, and returns its address.
func leaderServer(t *testing.T, l *local) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	fwd := forward.New(forward.Config{Local: l})
	serverrpc.NewServer(backend{l}, fwd, nil).Register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

// backend is a serverrpc.Backend with only Apply.
type backend struct {
	*local
}

func (b backend) ReadIndex(context.Context) (uint64, error)         { return 0, errors.New("unused") }
func (b backend) Status(bool) (*serverpb.StatusReply, error)        { return &serverpb.StatusReply{}, nil }
func (b backend) Join(context.Context, *serverpb.JoinRequest) error { return errors.New("unused") }
func (b backend) RemovePeer(context.Context, string) error          { return errors.New("unused") }
func (b backend) Peers(context.Context) ([]*serverpb.Peer, error) {
	return nil, errors.New("unused")
}
func (b backend) SaveSnapshot(context.Context, io.Writer) error { return errors.New("unused") }
func (b backend) RestoreSnapshot(context.Context, io.Reader) (uint64, error) {
	return 0, errors.New("unused")
}
func (b backend) Heartbeat(context.Context, nodes.Heartbeat) (nodes.Reply, error) {
	return nodes.Reply{}, errors.New("unused")
}

func follower(t *testing.T, addr string) *forward.Forwarder {
	f, _ := followerWith(t, addr)
	return f
}

// followerWith also returns the follower's scripted store.
func followerWith(t *testing.T, addr string) (*forward.Forwarder, *local) {
	t.Helper()
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	pool := serverrpc.NewPool(grpc.WithTransportCredentials(insecure.NewCredentials()))
	t.Cleanup(func() { _ = pool.Close() })
	l := &local{leaderID: "leader", st: st}
	return forward.New(forward.Config{
		Local: l, Dial: pool, MaxWait: 2 * time.Second,
		RPCAddr: func(id string) (string, bool) { return addr, id == "leader" },
	}), l
}

func TestErrorsSurviveTheWire(t *testing.T) {
	cases := []struct {
		name string
		err  error
		is   []error
		code apperr.Code
	}{
		{"not leader", fmtErr(apperr.New(apperr.Unavailable, "not the leader (the leader is x)"), store.ErrNotLeader),
			[]error{store.ErrNotLeader, apperr.ErrUnavailable}, apperr.Unavailable},
		{"business error", apperr.New(apperr.NotFound, "sandbox sb_1 not found"), []error{apperr.ErrNotFound}, apperr.NotFound},
		{"no capacity", agentapi.ErrNoCapacity, []error{agentapi.ErrNoCapacity}, apperr.Internal},
		{"deadline", context.DeadlineExceeded, []error{context.DeadlineExceeded}, apperr.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &local{leader: true, script: []func(any) (any, error){func(any) (any, error) { return nil, c.err }}}
			fwd := follower(t, leaderServer(t, l))
			_, err := fwd.Apply(context.Background(), command.SandboxUpdate, command.SandboxUpdateRequest{ID: "sb_1"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, target := range c.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			if got := apperr.CodeOf(err); got != c.code {
				t.Errorf("code %s, want %s", got, c.code)
			}
			if err.Error() != c.err.Error() {
				t.Errorf("message %q, want %q", err, c.err)
			}
		})
	}
}

func fmtErr(a, b error) error { return errors.Join(a, b) }

func TestApplyIsForwardedAndItsResultDecoded(t *testing.T) {
	l := &local{leader: true, script: []func(any) (any, error){func(req any) (any, error) {
		r := req.(*command.SandboxCreateRequest)
		sb := r.Sandbox
		sb.CreateIndex = 7
		return &sb, nil
	}, func(req any) (any, error) {
		team := req.(*command.TeamUpsertRequest).Team
		return &team, nil
	}}, applied: 42}
	fwd, fl := followerWith(t, leaderServer(t, l))
	res, err := fwd.Apply(context.Background(), command.SandboxCreate,
		command.SandboxCreateRequest{Sandbox: structs.Sandbox{ID: "sb_1", TeamID: "t1", State: structs.SandboxRunning}, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	sb, ok := res.(*structs.Sandbox)
	if !ok || sb.ID != "sb_1" || sb.TeamID != "t1" || sb.CreateIndex != 7 {
		t.Fatalf("result %#v", res)
	}
	waited := func() uint64 {
		fl.mu.Lock()
		defer fl.mu.Unlock()
		return fl.waited
	}
	if w := waited(); w != 0 {
		t.Fatalf("a sandbox write waited for index %d here: its readers catch up on a miss instead", w)
	}

	// A team: the follower returns once it has applied the leader's index.
	res, err = fwd.Apply(context.Background(), command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t1", Name: "one"}})
	if team, ok := res.(*structs.Team); err != nil || !ok || team.Name != "one" {
		t.Fatalf("team result %#v, %v", res, err)
	}
	if w := waited(); w != 42 {
		t.Fatalf("the follower waited for index %d, want the leader's 42 (read your writes)", w)
	}
}

// TestNotLeaderIsRetriedLeadershipLostIsNot: a refusal by a server that is
// not the leader cannot have committed anything and is retried; a
// leadership lost mid-commit may have committed and is returned as is.
func TestNotLeaderIsRetriedLeadershipLostIsNot(t *testing.T) {
	notLeader := func(any) (any, error) {
		return nil, fmtErr(apperr.New(apperr.Unavailable, "not the leader"), store.ErrNotLeader)
	}
	ok := func(any) (any, error) { return &structs.Sandbox{ID: "sb_1"}, nil }
	l := &local{leader: true, script: []func(any) (any, error){notLeader, notLeader, ok}}
	fwd := follower(t, leaderServer(t, l))
	if _, err := fwd.Apply(context.Background(), command.SandboxUpdate, command.SandboxUpdateRequest{ID: "sb_1"}); err != nil {
		t.Fatalf("Apply after two refusals: %v", err)
	}
	if n := l.count(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}

	lost := func(any) (any, error) {
		return nil, fmtErr(apperr.New(apperr.Unavailable, "leadership lost"), store.ErrLeadershipLost)
	}
	l2 := &local{leader: true, script: []func(any) (any, error){lost, ok}}
	fwd2 := follower(t, leaderServer(t, l2))
	_, err := fwd2.Apply(context.Background(), command.SandboxUpdate, command.SandboxUpdateRequest{ID: "sb_1"})
	if !errors.Is(err, store.ErrLeadershipLost) {
		t.Fatalf("err %v, want ErrLeadershipLost", err)
	}
	if n := l2.count(); n != 1 {
		t.Fatalf("%d calls, want 1 (an ambiguous commit is never retried)", n)
	}
}

func TestNoLeaderIsUnavailableAfterMaxWait(t *testing.T) {
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	fwd := forward.New(forward.Config{Local: &local{st: st}, MaxWait: 300 * time.Millisecond,
		RPCAddr: func(string) (string, bool) { return "", false }})
	start := time.Now()
	_, err = fwd.Apply(context.Background(), command.SandboxUpdate, command.SandboxUpdateRequest{ID: "sb_1"})
	if !errors.Is(err, apperr.ErrUnavailable) || !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("err %v, want UNAVAILABLE wrapping ErrNotLeader", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("gave up after %v, want about MaxWait", waited)
	}
}
