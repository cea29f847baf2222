package nodes

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/store/storetest"
	"github.com/codeint/codeint/controlplane/structs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mustStore opens a single-server Raft store in a temp dir and waits until
// it leads.
func mustStore(t testing.TB) *store.Store {
	t.Helper()
	return storetest.Open(t, store.Config{NodeID: "server1"})
}

const ttl = 6 * time.Second

// setup returns a store, a tracker with the default TTL, Interval and Grace
// on a fake clock at t0, and the clock.
func setup(t testing.TB) (*store.Store, *Tracker, *clock) {
	t.Helper()
	st := mustStore(t)
	clk := &clock{now: t0}
	return st, New(Config{Store: st, Now: clk.Now, StartTimeout: startTimeout}), clk
}

// startTimeout is the tests' StartTimeout: longer than the other tests'
// clock advances.
const startTimeout = 10 * time.Minute

func describe(id string) structs.Node {
	return structs.Node{ID: id, Region: "eu-1", Zone: "eu-1a", RPCAddr: "10.0.0.1:7100", VCPUs: 8, MemoryMB: 16384,
		DiskMB: 100000, Templates: []string{"base", "python"}, Runtimes: []string{"RUNC"}}
}

func beat(t testing.TB, tr *Tracker, node string, running ...string) Reply {
	t.Helper()
	r, err := tr.Heartbeat(context.Background(), Heartbeat{Node: describe(node), Sandboxes: running})
	if err != nil {
		t.Fatalf("Heartbeat %s: %v", node, err)
	}
	return r
}

func apply(t testing.TB, st *store.Store, typ command.Type, req any) any {
	t.Helper()
	resp, err := st.Apply(context.Background(), typ, req)
	if err != nil {
		t.Fatalf("Apply %v: %v", typ, err)
	}
	return resp
}

// place records a sandbox on node in state st, as the service would: a
// create at, then (unless CREATING) RUNNING at, then st.
func place(t testing.TB, s *store.Store, id, node string, st structs.SandboxState, at time.Time) {
	t.Helper()
	apply(t, s, command.SandboxCreate, command.SandboxCreateRequest{At: at, Sandbox: structs.Sandbox{
		ID: id, TeamID: "team_a", NodeID: node, Template: "base", VCPUs: 1, MemoryMB: 256}})
	if st == structs.SandboxCreating {
		return
	}
	apply(t, s, command.SandboxUpdate, command.SandboxUpdateRequest{ID: id, At: at, State: structs.SandboxRunning})
	if st != structs.SandboxRunning {
		apply(t, s, command.SandboxUpdate, command.SandboxUpdateRequest{ID: id, At: at, State: st, StopReason: structs.StopReasonTerminated})
	}
}

func sandbox(t testing.TB, s *store.Store, id string) *structs.Sandbox {
	t.Helper()
	sb := s.State().Snapshot().SandboxByID(id)
	if sb == nil {
		t.Fatalf("sandbox %s not in the state", id)
	}
	return sb
}

func node(t testing.TB, s *store.Store, id string) *structs.Node {
	t.Helper()
	n := s.State().Snapshot().NodeByID(id)
	if n == nil {
		t.Fatalf("node %s not in the state", id)
	}
	return n
}

func TestHeartbeatRegistersOnce(t *testing.T) {
	st, tr, clk := setup(t)
	r := beat(t, tr, "n1")
	if len(r.Kill) != 0 || r.TTL != ttl || r.Interval != ttl/3 {
		t.Fatalf("reply = %+v", r)
	}
	n := node(t, st, "n1")
	if n.Status != structs.NodeReady || n.RPCAddr != "10.0.0.1:7100" || n.Zone != "eu-1a" || !n.UpdatedAt.Equal(t0) ||
		!slices.Equal(n.Templates, []string{"base", "python"}) {
		t.Fatalf("registered node = %+v", n)
	}

	// A steady node costs no Raft write.
	index := st.State().Index()
	clk.Advance(time.Second)
	beat(t, tr, "n1")
	clk.Advance(time.Second)
	beat(t, tr, "n1")
	if got := st.State().Index(); got != index {
		t.Fatalf("identical beats wrote: index %d → %d", index, got)
	}
	hb, at, ok := tr.Live("n1")
	if !ok || !at.Equal(t0.Add(2*time.Second)) || hb.Node.RPCAddr != "10.0.0.1:7100" {
		t.Fatalf("Live = %+v, %v, %v", hb, at, ok)
	}
	if _, _, ok := tr.Live("n9"); ok {
		t.Fatal("Live of a node that never beat")
	}

	// A changed description is written once.
	changed := describe("n1")
	changed.Templates = append(changed.Templates, "node")
	changed.RPCAddr = "10.0.0.2:7100"
	for range 2 {
		if _, err := tr.Heartbeat(context.Background(), Heartbeat{Node: changed, FreeSlots: map[string]int{"base/RUNC": 2},
			Used: Usage{VCPUs: 1.5, MemoryMB: 512, Sandboxes: 2}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.State().Index(); got != index+1 {
		t.Fatalf("changed description: index %d → %d, want one write", index, got)
	}
	if n := node(t, st, "n1"); n.RPCAddr != "10.0.0.2:7100" || len(n.Templates) != 3 {
		t.Fatalf("updated node = %+v", n)
	}
	if hb, _, _ := tr.Live("n1"); hb.FreeSlots["base/RUNC"] != 2 || hb.Used.Sandboxes != 2 {
		t.Fatalf("Live after change = %+v", hb)
	}

	_, err := tr.Heartbeat(context.Background(), Heartbeat{})
	if !errors.Is(err, apperr.ErrInvalidArgument) {
		t.Fatalf("beat without an id: %v", err)
	}
}

func TestSilentNodeGoesDownAndItsSandboxesLost(t *testing.T) {
	st, tr, clk := setup(t)
	ctx := context.Background()
	beat(t, tr, "n1")
	beat(t, tr, "n2")
	place(t, st, "sb_run", "n1", structs.SandboxRunning, t0)
	place(t, st, "sb_new", "n1", structs.SandboxCreating, t0)
	place(t, st, "sb_done", "n1", structs.SandboxStopped, t0)
	place(t, st, "sb_other", "n2", structs.SandboxRunning, t0)
	beat(t, tr, "n1", "sb_run")

	clk.Advance(ttl)
	beat(t, tr, "n2", "sb_other") // n2 keeps beating
	tr.check(ctx)
	if n := node(t, st, "n1"); n.Status != structs.NodeReady {
		t.Fatalf("n1 down after exactly TTL: %+v", n)
	}
	clk.Advance(time.Millisecond)
	down := clk.Now()
	tr.check(ctx)
	if n := node(t, st, "n1"); n.Status != structs.NodeDown || !n.UpdatedAt.Equal(down) {
		t.Fatalf("n1 after TTL = %+v", n)
	}
	for _, id := range []string{"sb_run", "sb_new"} {
		sb := sandbox(t, st, id)
		if sb.State != structs.SandboxLost || sb.StopReason != structs.StopReasonNodeLost || !sb.StoppedAt.Equal(down) {
			t.Errorf("%s = %+v", id, sb)
		}
	}
	if sb := sandbox(t, st, "sb_done"); sb.State != structs.SandboxStopped || sb.StoppedAt.Equal(down) {
		t.Errorf("stopped sandbox changed: %+v", sb)
	}
	if n, sb := node(t, st, "n2"), sandbox(t, st, "sb_other"); n.Status != structs.NodeReady || sb.State != structs.SandboxRunning {
		t.Errorf("beating node touched: %+v %+v", n, sb)
	}

	// A DOWN node is not written again by later checks.
	index := st.State().Index()
	clk.Advance(ttl)
	beat(t, tr, "n2", "sb_other")
	tr.check(ctx)
	if got := st.State().Index(); got != index {
		t.Fatalf("check of a DOWN node wrote: index %d → %d", index, got)
	}

	// The node returns: READY again, and told to kill what was lost or stopped.
	r := beat(t, tr, "n1", "sb_run", "sb_new", "sb_done")
	if n := node(t, st, "n1"); n.Status != structs.NodeReady || !n.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("returned node = %+v", n)
	}
	if want := []string{"sb_done", "sb_new", "sb_run"}; !slices.Equal(r.Kill, want) {
		t.Fatalf("Kill = %v, want %v", r.Kill, want)
	}
	// Lost sandboxes stay lost: no later beat revives them.
	if sb := sandbox(t, st, "sb_run"); sb.State != structs.SandboxLost {
		t.Fatalf("sb_run = %+v", sb)
	}
}

func TestUnknownSandboxKilledOnlyAfterGrace(t *testing.T) {
	st, tr, clk := setup(t)
	grace := ttl // the default
	if r := beat(t, tr, "n1", "sb_ghost", "sb_warm"); len(r.Kill) != 0 {
		t.Fatalf("unknown ids killed at once: %v", r.Kill)
	}
	// The warm claim's create commits within the grace: never killed.
	clk.Advance(grace / 2)
	place(t, st, "sb_warm", "n1", structs.SandboxRunning, clk.Now())
	if r := beat(t, tr, "n1", "sb_ghost", "sb_warm"); len(r.Kill) != 0 {
		t.Fatalf("killed within the grace: %v", r.Kill)
	}
	clk.Advance(grace/2 - time.Millisecond)
	if r := beat(t, tr, "n1", "sb_ghost", "sb_warm"); len(r.Kill) != 0 {
		t.Fatalf("killed before the grace ended: %v", r.Kill)
	}
	clk.Advance(time.Millisecond)
	if r := beat(t, tr, "n1", "sb_ghost", "sb_warm"); !slices.Equal(r.Kill, []string{"sb_ghost"}) {
		t.Fatalf("Kill after the grace = %v, want [sb_ghost]", r.Kill)
	}
	// An id that went away and comes back starts a new grace.
	beat(t, tr, "n1", "sb_warm")
	if r := beat(t, tr, "n1", "sb_ghost", "sb_warm"); len(r.Kill) != 0 {
		t.Fatalf("returning id killed without a new grace: %v", r.Kill)
	}
	// An id the state has on another node is killed at once.
	place(t, st, "sb_elsewhere", "n2", structs.SandboxRunning, clk.Now())
	if r := beat(t, tr, "n1", "sb_warm", "sb_elsewhere"); !slices.Equal(r.Kill, []string{"sb_elsewhere"}) {
		t.Fatalf("Kill = %v, want [sb_elsewhere]", r.Kill)
	}
	if sb := sandbox(t, st, "sb_elsewhere"); sb.State != structs.SandboxRunning {
		t.Fatalf("killing a misplaced copy changed the record: %+v", sb)
	}
}

func TestMissingSandboxesMarkedStopped(t *testing.T) {
	st, tr, clk := setup(t)
	beat(t, tr, "n1")
	place(t, st, "sb_old", "n1", structs.SandboxRunning, t0)
	place(t, st, "sb_kept", "n1", structs.SandboxRunning, t0)
	place(t, st, "sb_creating", "n1", structs.SandboxCreating, t0)
	place(t, st, "sb_stopping", "n1", structs.SandboxStopping, t0) // reason TERMINATED
	place(t, st, "sb_other", "n2", structs.SandboxRunning, t0)
	clk.Advance(time.Minute)
	place(t, st, "sb_fresh", "n1", structs.SandboxRunning, clk.Now()) // started just now

	// The agent restarted and runs only sb_kept.
	r := beat(t, tr, "n1", "sb_kept")
	if len(r.Kill) != 0 {
		t.Fatalf("Kill = %v", r.Kill)
	}
	old := sandbox(t, st, "sb_old")
	if old.State != structs.SandboxStopped || old.StopReason != structs.StopReasonAgentRestart || !old.StoppedAt.Equal(clk.Now()) {
		t.Fatalf("sb_old = %+v", old)
	}
	for id, want := range map[string]structs.SandboxState{
		"sb_kept":     structs.SandboxRunning,
		"sb_creating": structs.SandboxCreating, // a start is in flight
		"sb_fresh":    structs.SandboxRunning,  // the beat may predate its start
		"sb_stopping": structs.SandboxStopping, // its stop may still commit
		"sb_other":    structs.SandboxRunning,  // another node's
	} {
		if got := sandbox(t, st, id).State; got != want {
			t.Errorf("%s = %s, want %s", id, got, want)
		}
	}

	// After the grace, what is still missing is finished.
	clk.Advance(ttl)
	beat(t, tr, "n1", "sb_kept")
	if sb := sandbox(t, st, "sb_fresh"); sb.State != structs.SandboxStopped || sb.StopReason != structs.StopReasonAgentRestart {
		t.Errorf("sb_fresh after the grace = %+v", sb)
	}
	if sb := sandbox(t, st, "sb_stopping"); sb.State != structs.SandboxStopped || sb.StopReason != structs.StopReasonTerminated {
		t.Errorf("sb_stopping after the grace = %+v (its stop reason must stay)", sb)
	}
	if sb := sandbox(t, st, "sb_creating"); sb.State != structs.SandboxCreating {
		t.Errorf("sb_creating = %+v", sb)
	}
}

// TestRecoveredEndsStopLostSandboxes: a sandbox the agent lost in
// its crash is stopped at the end of its metering that the agent
// recovered (its last checkpoint), where its billing ends; an end that
// cannot be right (before the start, or after the beat) is not used.
func TestRecoveredEndsStopLostSandboxes(t *testing.T) {
	st, tr, clk := setup(t)
	beat(t, tr, "n1")
	start := clk.Now()
	for _, id := range []string{"sb_metered", "sb_early", "sb_late", "sb_unknown"} {
		place(t, st, id, "n1", structs.SandboxRunning, start)
	}
	clk.Advance(time.Minute)
	checkpoint := start.Add(40 * time.Second)
	hb := Heartbeat{Node: describe("n1"), Ended: map[string]time.Time{
		"sb_metered": checkpoint,
		"sb_early":   start.Add(-time.Second),
		"sb_late":    clk.Now().Add(time.Second),
	}}
	if _, err := tr.Heartbeat(context.Background(), hb); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{"sb_metered": checkpoint, "sb_early": clk.Now(), "sb_late": clk.Now(), "sb_unknown": clk.Now()} {
		sb := sandbox(t, st, id)
		if sb.State != structs.SandboxStopped || sb.StopReason != structs.StopReasonAgentRestart || !sb.StoppedAt.Equal(want) {
			t.Errorf("%s = %s (%s) at %v, want STOPPED (AGENT_RESTART) at %v", id, sb.State, sb.StopReason, sb.StoppedAt, want)
		}
	}
}

// TestAbandonedStartFails: a sandbox left CREATING (its server died
// between the commit and the start) that the node does not run is FAILED
// once StartTimeout has passed, not before.
func TestAbandonedStartFails(t *testing.T) {
	st, tr, clk := setup(t)
	beat(t, tr, "n1")
	place(t, st, "sb_abandoned", "n1", structs.SandboxCreating, clk.Now())
	clk.Advance(startTimeout - time.Second)
	beat(t, tr, "n1")
	if sb := sandbox(t, st, "sb_abandoned"); sb.State != structs.SandboxCreating {
		t.Fatalf("before StartTimeout: %+v", sb)
	}
	clk.Advance(time.Second)
	beat(t, tr, "n1")
	if sb := sandbox(t, st, "sb_abandoned"); sb.State != structs.SandboxFailed || sb.StopReason != structs.StopReasonStartFailed {
		t.Fatalf("after StartTimeout: %+v, want FAILED (START_FAILED)", sb)
	}
}

// TestExitedSandboxesKeepTheirReason: a sandbox the agent reports as
// exited is recorded at once with the agent's reason, even one that
// started just now, and a repeated report changes nothing.
func TestExitedSandboxesKeepTheirReason(t *testing.T) {
	st, tr, clk := setup(t)
	beat(t, tr, "n1")
	clk.Advance(time.Minute)
	place(t, st, "sb_exited", "n1", structs.SandboxRunning, clk.Now())
	hb := Heartbeat{Node: describe("n1"), Exited: map[string]string{"sb_exited": structs.StopReasonExited}}
	for range 2 {
		if _, err := tr.Heartbeat(context.Background(), hb); err != nil {
			t.Fatal(err)
		}
		sb := sandbox(t, st, "sb_exited")
		if sb.State != structs.SandboxStopped || sb.StopReason != structs.StopReasonExited {
			t.Fatalf("sb_exited = %+v, want STOPPED (EXITED)", sb)
		}
	}
}

func TestNewTermGivesEveryNodeAFreshTTL(t *testing.T) {
	st, old, clk := setup(t)
	ctx := context.Background()
	beat(t, old, "n1")
	old.beginTerm()

	// Leadership moves; much later it comes back to a new tracker that never
	// heard n1 (its beats went to the other leader), and to the old one,
	// whose last beat is stale.
	clk.Advance(time.Hour)
	fresh := New(Config{Store: st, Now: clk.Now})
	for _, tr := range []*Tracker{fresh, old} {
		tr.beginTerm()
		tr.check(ctx)
		if n := node(t, st, "n1"); n.Status != structs.NodeReady {
			t.Fatalf("node marked down as the term began: %+v", n)
		}
	}
	clk.Advance(ttl + time.Millisecond)
	fresh.check(ctx)
	if n := node(t, st, "n1"); n.Status != structs.NodeDown {
		t.Fatalf("node not down a TTL into the term: %+v", n)
	}
}

// TestRun drives Run on the real clock: a node silent since before the term
// goes DOWN no sooner than a TTL after Run starts, a beating node stays
// READY, and Run returns when its context ends.
func TestRun(t *testing.T) {
	st := mustStore(t)
	const runTTL = 400 * time.Millisecond
	tr := New(Config{Store: st, TTL: runTTL})
	apply(t, st, command.NodeUpsert, command.NodeUpsertRequest{Node: structs.Node{ID: "silent", Status: structs.NodeReady,
		UpdatedAt: time.Now().Add(-time.Hour)}})
	beat(t, tr, "beating")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		tr.Run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for node(t, st, "silent").Status != structs.NodeDown {
		if time.Now().After(deadline) {
			t.Fatal("silent node never marked down")
		}
		beat(t, tr, "beating")
		time.Sleep(runTTL / 8) // pace the beats
	}
	if elapsed := time.Since(start); elapsed < runTTL {
		t.Fatalf("silent node marked down %v after Run started, before the TTL (%v)", elapsed, runTTL)
	}
	if n := node(t, st, "beating"); n.Status != structs.NodeReady {
		t.Fatalf("beating node = %+v", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
