package sandboxes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/agents"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/events"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/store/storetest"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// fakeAgent is a hand-written agent with function fields.
type fakeAgent struct {
	id      string // "n1" when empty
	mu      sync.Mutex
	running map[string]bool
	start   func(agentapi.StartRequest) error
	exec    func(ctx context.Context, req agentapi.ExecRequest, out func(agentapi.OutputChunk)) (agentapi.ExecResult, error)
	// envd answers OpenEnvd; nil: the sandbox has no envd to reach.
	envd func(id string) (net.Conn, error)
}

func (f *fakeAgent) NodeID() string {
	if f.id == "" {
		return "n1"
	}
	return f.id
}
func (f *fakeAgent) StartSandbox(_ context.Context, r agentapi.StartRequest) (agentapi.StartResult, error) {
	if f.start != nil {
		if err := f.start(r); err != nil {
			return agentapi.StartResult{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[r.SandboxID] = true
	return agentapi.StartResult{NodeID: f.NodeID()}, nil
}
func (f *fakeAgent) StopSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
	return nil
}
func (f *fakeAgent) Execute(ctx context.Context, id string, req agentapi.ExecRequest, out func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
	return f.exec(ctx, req, out)
}
func (f *fakeAgent) Sandboxes(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.running {
		ids = append(ids, id)
	}
	return ids, nil
}
func (f *fakeAgent) OpenEnvd(_ context.Context, id string) (net.Conn, error) {
	if f.envd == nil {
		return nil, errors.New("fake agent: no envd")
	}
	return f.envd(id)
}
func (f *fakeAgent) isRunning(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[id]
}

type fixture struct {
	svc    *Service
	agent  *fakeAgent
	store  *store.Store
	broker *events.Broker
	now    *time.Time
	mu     *sync.Mutex
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	broker := events.NewBroker(64)
	st := storetest.Open(t, store.Config{OnSandboxEvent: broker.Publish})
	ctx := context.Background()
	if _, err := st.Apply(ctx, command.NodeUpsert, command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Region: "local",
		Status: structs.NodeReady, VCPUs: 4, MemoryMB: 2048, DiskMB: 10000, Templates: []string{"base"},
		Runtimes: []string{RuntimeRunc}}}); err != nil {
		t.Fatal(err)
	}
	fa := &fakeAgent{running: map[string]bool{}, exec: func(context.Context, agentapi.ExecRequest, func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		return agentapi.ExecResult{Stdout: "1\n"}, nil
	}}
	reg := agents.NewRegistry(nil)
	reg.Register(fa)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	f := &fixture{agent: fa, store: st, broker: broker, now: &now, mu: &mu}
	f.svc = New(Config{Store: st, Agents: reg, Broker: broker, Region: "local", Templates: []Template{{Name: "base", Runtime: RuntimeRunc, MaxVCPUs: 2, Languages: []string{"PYTHON", "JAVASCRIPT", "BASH"}}},
		Limits: DefaultLimits(), ExpiryInterval: 5 * time.Millisecond,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return *f.now }})
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.now = f.now.Add(d)
}

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestCreateGetAndTeamScope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sb, err := f.svc.Create(ctx, "t1", CreateInput{TimeoutSeconds: ptr(60), Env: []structs.EnvVar{{Name: "A", Value: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != structs.SandboxRunning || sb.NodeID != "n1" || sb.Template != "base" || sb.StartedAt.IsZero() {
		t.Fatalf("created = %+v", sb)
	}
	if want := f.now.Add(60 * time.Second); !sb.ExpiresAt.Equal(want) {
		t.Fatalf("expiresAt = %v, want %v", sb.ExpiresAt, want)
	}
	if !f.agent.isRunning(sb.ID) {
		t.Fatal("agent was not asked to start the sandbox")
	}
	if _, err := f.svc.Get(ctx, "t1", sb.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Get(ctx, "t2", sb.ID)
	wantCode(t, err, apperr.NotFound)
	_, err = f.svc.Terminate(ctx, "t2", sb.ID)
	wantCode(t, err, apperr.NotFound)
	_, err = f.svc.Execute(ctx, "t2", sb.ID, ExecuteInput{Language: "PYTHON", Code: "1"}, nil)
	wantCode(t, err, apperr.NotFound)
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	for name, in := range map[string]CreateInput{
		"unknown template":   {Template: "nope"},
		"unknown region":     {Region: "mars"},
		"negative timeout":   {TimeoutSeconds: ptr(-1)},
		"timeout too long":   {TimeoutSeconds: ptr(31 * 60)},
		"zero vcpus":         {VCPUs: ptr(0.0)},
		"tiny memory":        {MemoryMB: ptr(1)},
		"bad env name":       {Env: []structs.EnvVar{{Name: "1X"}}},
		"metadata no object": {Metadata: []byte(`[1]`)},
		"unknown runtime":    {Runtime: "KATA"},
		"above template max": {VCPUs: ptr(3.0)},
		"above node size":    {MemoryMB: ptr(4096)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Create(context.Background(), "t1", in)
			wantCode(t, err, apperr.InvalidArgument)
		})
	}
	if n := len(f.store.State().Snapshot().Sandboxes()); n != 0 {
		t.Fatalf("%d sandboxes recorded after invalid creates", n)
	}
}

func TestCreateNoCapacity(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(context.Background(), "t1", CreateInput{MemoryMB: ptr(2048)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Create(context.Background(), "t1", CreateInput{MemoryMB: ptr(64), VCPUs: ptr(0.25)})
	wantCode(t, err, apperr.ResourceExhausted)
}

func TestRuntimeAndAgentErrors(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(context.Background(), "t1", CreateInput{Runtime: RuntimeGVisor})
	wantCode(t, err, apperr.FailedPrecondition)
	if !strings.Contains(err.Error(), "runsc") {
		t.Fatalf("error %q does not say what to install", err)
	}
	for _, tc := range []struct {
		err  error
		code apperr.Code
	}{
		{fmt.Errorf("runsc: %w", agentapi.ErrRuntimeUnavailable), apperr.FailedPrecondition},
		{fmt.Errorf("uids: %w", agentapi.ErrNoCapacity), apperr.ResourceExhausted},
		{errors.New("boom"), apperr.Unavailable},
	} {
		f.agent.start = func(agentapi.StartRequest) error { return tc.err }
		_, err := f.svc.Create(context.Background(), "t1", CreateInput{})
		wantCode(t, err, tc.code)
	}
}

func TestStartFailureRecordsFailed(t *testing.T) {
	f := newFixture(t)
	f.agent.start = func(agentapi.StartRequest) error { return errors.New("runc exploded") }
	_, err := f.svc.Create(context.Background(), "t1", CreateInput{})
	wantCode(t, err, apperr.Unavailable)
	all := f.store.State().Snapshot().Sandboxes()
	if len(all) != 1 || all[0].State != structs.SandboxFailed || all[0].StopReason != structs.StopReasonStartFailed {
		t.Fatalf("after failed start: %+v", all)
	}
}

func TestExecuteEventsAndStates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sb, err := f.svc.Create(ctx, "t1", CreateInput{})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	f.agent.exec = func(_ context.Context, req agentapi.ExecRequest, out func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		if req.Timeout != 60*time.Second || req.Env["E"] != "x" {
			return agentapi.ExecResult{}, errors.New("request not passed through")
		}
		out(agentapi.OutputChunk{Stream: agentapi.Stdout, Data: []byte("a"), Seq: 1})
		<-release
		return agentapi.ExecResult{Stdout: "a", ExitCode: 3}, nil
	}
	var got []ExecEvent
	done := make(chan *ExecutionResult)
	go func() {
		res, err := f.svc.Execute(ctx, "t1", sb.ID, ExecuteInput{Language: "PYTHON", Code: "print(1)",
			Env: []structs.EnvVar{{Name: "E", Value: "x"}}}, func(e ExecEvent) { got = append(got, e) })
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	deadline := time.Now().Add(2 * time.Second)
	for {
		cur, _ := f.svc.Get(ctx, "t1", sb.ID)
		if cur.State == structs.SandboxExecuting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sandbox never showed EXECUTING")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	res := <-done
	if res == nil || res.ExitCode != 3 || res.ID == "" {
		t.Fatalf("result = %+v", res)
	}
	if len(got) != 2 || got[0].Started == nil || got[1].Output == nil || string(got[1].Output.Data) != "a" {
		t.Fatalf("events = %+v", got)
	}
	if cur, _ := f.svc.Get(ctx, "t1", sb.ID); cur.State != structs.SandboxRunning {
		t.Fatalf("after execution state = %s", cur.State)
	}
}

func TestExecuteValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sb, err := f.svc.Create(ctx, "t1", CreateInput{})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20+1)
	for name, in := range map[string]ExecuteInput{
		"unknown language": {Language: "COBOL", Code: "x"},
		"not in template":  {Language: "GO", Code: "package main"},
		"not yet":          {Language: "RUST", Code: "x"},
		"empty code":       {Language: "PYTHON"},
		"code over 1 MiB":  {Language: "PYTHON", Code: string(big)},
		"negative timeout": {Language: "PYTHON", Code: "1", TimeoutSeconds: ptr(-5)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Execute(ctx, "t1", sb.ID, in, nil)
			wantCode(t, err, apperr.InvalidArgument)
		})
	}
	if _, err := f.svc.Terminate(ctx, "t1", sb.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Execute(ctx, "t1", sb.ID, ExecuteInput{Language: "PYTHON", Code: "1"}, nil)
	wantCode(t, err, apperr.FailedPrecondition)
	_, err = f.svc.Execute(ctx, "t1", "sb_nope", ExecuteInput{Language: "PYTHON", Code: "1"}, nil)
	wantCode(t, err, apperr.NotFound)
}

func TestTerminateIsIdempotentAndCleansAgent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sb, _ := f.svc.Create(ctx, "t1", CreateInput{})
	for i := 0; i < 2; i++ {
		got, err := f.svc.Terminate(ctx, "t1", sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != structs.SandboxStopped || got.StopReason != structs.StopReasonTerminated || got.StoppedAt.IsZero() {
			t.Fatalf("terminate #%d: %+v", i+1, got)
		}
	}
	if f.agent.isRunning(sb.ID) {
		t.Fatal("agent still runs the sandbox")
	}
}

func TestLifetimeExpiryAndSetTimeout(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	short, _ := f.svc.Create(ctx, "t1", CreateInput{TimeoutSeconds: ptr(10)})
	kept, _ := f.svc.Create(ctx, "t1", CreateInput{TimeoutSeconds: ptr(10)})
	if _, err := f.svc.SetTimeout(ctx, "t1", kept.ID, 100); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.SetTimeout(ctx, "t1", kept.ID, 0)
	wantCode(t, err, apperr.InvalidArgument)
	go f.svc.Run(ctx)
	f.advance(11 * time.Second)
	waitState(t, f, short.ID, structs.SandboxStopped)
	got, _ := f.svc.Get(ctx, "t1", short.ID)
	if got.StopReason != structs.StopReasonTimeout {
		t.Fatalf("stopReason = %q, want TIMEOUT", got.StopReason)
	}
	if cur, _ := f.svc.Get(ctx, "t1", kept.ID); cur.State != structs.SandboxRunning {
		t.Fatalf("extended sandbox is %s", cur.State)
	}
	_, err = f.svc.SetTimeout(ctx, "t1", short.ID, 10)
	wantCode(t, err, apperr.FailedPrecondition)
}

func waitState(t *testing.T, f *fixture, id string, want structs.SandboxState) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if sb := f.store.State().Snapshot().SandboxByID(id); sb != nil && sb.State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("sandbox %s never became %s", id, want)
}

func TestExitAndReconcile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, _ := f.svc.Create(ctx, "t1", CreateInput{})
	b, _ := f.svc.Create(ctx, "t1", CreateInput{})
	f.svc.SandboxExited(a.ID, structs.StopReasonExited)
	if got, _ := f.svc.Get(ctx, "t1", a.ID); got.State != structs.SandboxStopped || got.StopReason != structs.StopReasonExited {
		t.Fatalf("exited sandbox = %+v", got)
	}
	c, _ := f.svc.Create(ctx, "t1", CreateInput{})
	_ = f.agent.StopSandbox(ctx, b.ID) // the node lost them
	_ = f.agent.StopSandbox(ctx, c.ID)
	// c's metering was cut short by the crash at its last checkpoint; b's
	// end is not known (or later than now: ignored).
	f.advance(10 * time.Second)
	lastCheckpoint := f.svc.cfg.Now().Add(-4 * time.Second)
	ended := map[string]time.Time{c.ID: lastCheckpoint, b.ID: f.svc.cfg.Now().Add(time.Hour)}
	marked, err := f.svc.Reconcile(ctx, "n1", structs.StopReasonAgentRestart, ended)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Sort(marked); !slices.Equal(marked, sortedIDs(b.ID, c.ID)) {
		t.Fatalf("reconcile marked %v, want %s and %s", marked, b.ID, c.ID)
	}
	gotB, _ := f.svc.Get(ctx, "t1", b.ID)
	gotC, _ := f.svc.Get(ctx, "t1", c.ID)
	if gotB.StopReason != structs.StopReasonAgentRestart || !gotB.StoppedAt.Equal(f.svc.cfg.Now()) {
		t.Fatalf("reconciled sandbox without a metered end = %+v", gotB)
	}
	if gotC.StopReason != structs.StopReasonAgentRestart || !gotC.StoppedAt.Equal(lastCheckpoint) {
		t.Fatalf("reconciled sandbox stopped at %v, want its metering's end %v", gotC.StoppedAt, lastCheckpoint)
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestListPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		sb, err := f.svc.Create(ctx, "t1", CreateInput{MemoryMB: ptr(64), VCPUs: ptr(0.25)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sb.ID)
	}
	_, _ = f.svc.Create(ctx, "t2", CreateInput{MemoryMB: ptr(64), VCPUs: ptr(0.25)})
	_, _ = f.svc.Terminate(ctx, "t1", ids[0])

	var seen []string
	after := ""
	for {
		p, err := f.svc.List(ctx, "t1", ListQuery{First: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if p.TotalCount != 5 {
			t.Fatalf("totalCount = %d", p.TotalCount)
		}
		for _, sb := range p.Sandboxes {
			seen = append(seen, sb.ID)
		}
		if !p.HasNextPage {
			break
		}
		after = p.EndCursor
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Fatalf("paged ids %v, want newest first of %v", seen, ids)
	}
	running := structs.SandboxRunning
	p, err := f.svc.List(ctx, "t1", ListQuery{State: &running})
	if err != nil || p.TotalCount != 4 {
		t.Fatalf("running filter: %d, %v", p.TotalCount, err)
	}
	_, err = f.svc.List(ctx, "t1", ListQuery{After: "!!"})
	wantCode(t, err, apperr.InvalidArgument)
}

func TestEventsScopedToTeam(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := f.svc.Events(ctx, "t1", "")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.svc.Create(ctx, "t2", CreateInput{MemoryMB: ptr(64), VCPUs: ptr(0.25)})
	sb, _ := f.svc.Create(ctx, "t1", CreateInput{MemoryMB: ptr(64), VCPUs: ptr(0.25)})
	var states []structs.SandboxState
	timeout := time.After(2 * time.Second)
	for len(states) < 2 {
		select {
		case ev := <-ch:
			if ev.Sandbox.ID != sb.ID {
				t.Fatalf("event of another sandbox: %+v", ev.Sandbox)
			}
			states = append(states, ev.Sandbox.State)
		case <-timeout:
			t.Fatalf("events so far %v", states)
		}
	}
	if states[0] != structs.SandboxCreating || states[1] != structs.SandboxRunning {
		t.Fatalf("states = %v", states)
	}
	_, err = f.svc.Events(ctx, "t2", sb.ID)
	wantCode(t, err, apperr.NotFound)
}

// warmAgent is a fakeAgent that also claims warm sandboxes.
type warmAgent struct {
	*fakeAgent
	hit    bool
	claims int
}

func (w *warmAgent) ClaimWarm(_ context.Context, r agentapi.StartRequest) (agentapi.StartResult, bool, error) {
	w.claims++
	if !w.hit {
		return agentapi.StartResult{}, false, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running[r.SandboxID] = true
	return agentapi.StartResult{NodeID: "n1"}, true, nil
}

func TestWarmCreateIsOneCommit(t *testing.T) {
	f := newFixture(t)
	w := &warmAgent{fakeAgent: f.agent, hit: true}
	f.svc.cfg.Agents.Register(w)
	f.agent.start = func(agentapi.StartRequest) error { return errors.New("a warm create must not start cold") }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := f.svc.Events(ctx, "t1", "")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := f.svc.Create(ctx, "t1", CreateInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != structs.SandboxRunning || sb.StartedAt.IsZero() || w.claims != 1 || !f.agent.isRunning(sb.ID) {
		t.Fatalf("warm create: %+v (claims %d)", sb, w.claims)
	}
	select {
	case ev := <-events:
		if ev.Type != structs.SandboxEventCreated || ev.Sandbox.State != structs.SandboxRunning {
			t.Fatalf("first event %s %s, want CREATED RUNNING", ev.Type, ev.Sandbox.State)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no event")
	}
	if idx := sb.ModifyIndex; idx != sb.CreateIndex {
		t.Fatalf("warm create took more than one commit (create %d, modify %d)", sb.CreateIndex, idx)
	}

	// No warm sandbox ready: the cold path, CREATING then RUNNING.
	w.hit = false
	f.agent.start = nil
	cold, err := f.svc.Create(ctx, "t1", CreateInput{})
	if err != nil {
		t.Fatal(err)
	}
	if cold.State != structs.SandboxRunning || cold.ModifyIndex == cold.CreateIndex || w.claims != 2 {
		t.Fatalf("cold create after a miss: %+v (claims %d)", cold, w.claims)
	}
}

// TestCatchUpBeforeMissOrCreating: a server that does not hold a sandbox
// yet, or holds it as CREATING, catches up with the leader once and looks
// again before answering NOT_FOUND or FAILED_PRECONDITION; a hit costs no
// catch-up.
func TestCatchUpBeforeMissOrCreating(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var calls int
	var pending []func()
	f.svc.cfg.CatchUp = func(context.Context) error {
		calls++
		for _, apply := range pending {
			apply()
		}
		pending = nil
		return nil
	}
	mustApply := func(typ command.Type, req any) {
		if _, err := f.store.Apply(ctx, typ, req); err != nil {
			t.Fatal(err)
		}
	}
	// Committed by the leader, not yet applied here: the catch-up applies it.
	sb := structs.Sandbox{ID: "sb_elsewhere", TeamID: "t1", Template: "base", Region: "local", NodeID: "n1",
		State: structs.SandboxRunning, VCPUs: 1, MemoryMB: 256}
	pending = append(pending, func() {
		mustApply(command.SandboxCreate, command.SandboxCreateRequest{Sandbox: sb, At: *f.now})
		f.agent.mu.Lock()
		f.agent.running[sb.ID] = true
		f.agent.mu.Unlock()
	})
	got, err := f.svc.Get(ctx, "t1", sb.ID)
	if err != nil || got.ID != sb.ID || calls != 1 {
		t.Fatalf("Get after a catch-up: %+v, %v (%d catch-ups)", got, err, calls)
	}
	if _, err := f.svc.Get(ctx, "t1", sb.ID); err != nil || calls != 1 {
		t.Fatalf("a hit caught up again: %v (%d catch-ups)", err, calls)
	}

	// Seen CREATING here, RUNNING at the leader: execute after catching up.
	creating := sb
	creating.ID, creating.State = "sb_starting", structs.SandboxCreating
	mustApply(command.SandboxCreate, command.SandboxCreateRequest{Sandbox: creating, At: *f.now})
	pending = append(pending, func() {
		mustApply(command.SandboxUpdate, command.SandboxUpdateRequest{ID: creating.ID, State: structs.SandboxRunning, At: *f.now})
	})
	if _, err := f.svc.Execute(ctx, "t1", creating.ID, ExecuteInput{Language: "PYTHON", Code: "print(1)"}, nil); err != nil || calls != 2 {
		t.Fatalf("execute in a sandbox that started at the leader: %v (%d catch-ups)", err, calls)
	}
}
