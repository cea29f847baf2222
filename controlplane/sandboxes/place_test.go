package sandboxes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/placement"
)

// addNode registers a second node with its own agent.
func (f *fixture) addNode(t *testing.T, id string, memoryMB int) *fakeAgent {
	t.Helper()
	if _, err := f.store.Apply(context.Background(), command.NodeUpsert, command.NodeUpsertRequest{Node: structs.Node{ID: id,
		Region: "local", Status: structs.NodeReady, VCPUs: 4, MemoryMB: memoryMB, DiskMB: 10000, Templates: []string{"base"},
		Runtimes: []string{RuntimeRunc}}}); err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{id: id, running: map[string]bool{}}
	f.svc.cfg.Agents.Register(a)
	return a
}

func TestCreateExplainsPlacement(t *testing.T) {
	f := newFixture(t)
	f.addNode(t, "n2", 8192)
	sb, err := f.svc.Create(context.Background(), "t1", CreateInput{MemoryMB: ptr(512)})
	if err != nil {
		t.Fatal(err)
	}
	p := sb.Placement
	// Binpack: n1 (2 GiB) is fuller after 512 MB than n2 (8 GiB).
	if p == nil || p.NodeID != "n1" || sb.NodeID != "n1" || p.Region != "local" || p.Feasible != 2 || len(p.RunnersUp) != 1 ||
		p.RunnersUp[0].NodeID != "n2" || p.RunnersUp[0].Score >= p.Score || p.Attempts != 1 {
		t.Fatalf("placement %+v", p)
	}
	names := map[string]bool{}
	for _, s := range p.Scores {
		names[s.Name] = true
	}
	for _, want := range []string{"latency", "binpack", "warm", "in-flight", "anti-affinity"} {
		if !names[want] {
			t.Fatalf("scores %+v lack %s", p.Scores, want)
		}
	}
	got, err := f.svc.Get(context.Background(), "t1", sb.ID)
	if err != nil || got.Placement == nil || got.Placement.NodeID != "n1" {
		t.Fatalf("the committed record has placement %+v (%v)", got.Placement, err)
	}
	if !strings.Contains(p.Explain(), "region local, node n1: latency") {
		t.Fatalf("explain = %q", p.Explain())
	}
}

func TestPreviewCommitsNothing(t *testing.T) {
	f := newFixture(t)
	p, err := f.svc.Preview(context.Background(), "t1", CreateInput{})
	if err != nil || p.NodeID != "n1" {
		t.Fatalf("preview = %+v, %v", p, err)
	}
	if n := len(f.store.State().Snapshot().SandboxesNonTerminal()); n != 0 || len(f.svc.reserved) != 0 || len(f.agent.running) != 0 {
		t.Fatalf("a preview left %d sandboxes, %d reservations, %d running", n, len(f.svc.reserved), len(f.agent.running))
	}
	_, err = f.svc.Preview(context.Background(), "t1", CreateInput{Regions: []string{"mars"}})
	wantCode(t, err, apperr.InvalidArgument)
	_, err = f.svc.Preview(context.Background(), "t1", CreateInput{Region: "local", Regions: []string{"local"}})
	wantCode(t, err, apperr.InvalidArgument)
	_, err = f.svc.Preview(context.Background(), "t1", CreateInput{MaxLatencyMs: -1})
	wantCode(t, err, apperr.InvalidArgument)
}

// A node that refuses the start because its capacity raced is excluded
// and the next node tried; the record follows.
func TestRefusedStartMovesToTheNextNode(t *testing.T) {
	f := newFixture(t)
	f.agent.start = func(agentapi.StartRequest) error {
		return fmt.Errorf("all uid ranges are in use: %w", agentapi.ErrNoCapacity)
	}
	n2 := f.addNode(t, "n2", 8192)
	sb, err := f.svc.Create(context.Background(), "t1", CreateInput{MemoryMB: ptr(512)})
	if err != nil {
		t.Fatal(err)
	}
	if sb.NodeID != "n2" || sb.State != structs.SandboxRunning || !n2.isRunning(sb.ID) {
		t.Fatalf("sandbox on %s (%s), want RUNNING on n2", sb.NodeID, sb.State)
	}
	p := sb.Placement
	if p.Attempts != 2 || len(p.Excluded) != 1 || !strings.HasPrefix(p.Excluded[0], "n1: ") || p.NodeID != "n2" {
		t.Fatalf("placement %+v, want n2 after n1 refused", p)
	}
	// With every node refusing, the create fails as RESOURCE_EXHAUSTED and
	// the record says why.
	n2.start = f.agent.start
	_, err = f.svc.Create(context.Background(), "t1", CreateInput{MemoryMB: ptr(512)})
	wantCode(t, err, apperr.ResourceExhausted)
}

// Creates placed before they commit hold their node's resources: the
// next create does not count them free.
func TestReservationsHoldCapacity(t *testing.T) {
	f := newFixture(t) // n1 has 2048 MB
	f.addNode(t, "n2", 2048)
	r, err := f.svc.resolveCreate(CreateInput{MemoryMB: ptr(1536)})
	if err != nil {
		t.Fatal(err)
	}
	req := placementRequest("t1", "sb_a", r, CreateInput{})
	a, err := f.svc.placeNode(context.Background(), "sb_a", req, r, true)
	if err != nil {
		t.Fatal(err)
	}
	req.Seed++
	b, err := f.svc.placeNode(context.Background(), "sb_b", req, r, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.NodeID == b.NodeID {
		t.Fatalf("both reserved creates went to %s, which has room for one", a.NodeID)
	}
	_, err = f.svc.placeNode(context.Background(), "sb_c", req, r, true)
	wantCode(t, err, apperr.ResourceExhausted)
	f.svc.unreserve("sb_a")
	if _, err := f.svc.placeNode(context.Background(), "sb_c", req, r, false); err != nil {
		t.Fatalf("after a reservation ends its node is free again: %v", err)
	}
}

// fakeLeader records creates sent to the leader.
type fakeLeader struct {
	leader bool
	got    []CreateInput
}

func (l *fakeLeader) IsLeader() bool { return l.leader }
func (l *fakeLeader) Create(_ context.Context, _ string, in CreateInput, _ bool) (*structs.Sandbox, *structs.Placement, error) {
	l.got = append(l.got, in)
	return &structs.Sandbox{ID: "sb_from_leader", Region: "local"}, &structs.Placement{Region: "local"}, nil
}

func TestFollowerSendsCreatesToTheLeader(t *testing.T) {
	f := newFixture(t)
	l := &fakeLeader{}
	f.svc.cfg.Leader = l
	sb, err := f.svc.Create(context.Background(), "t1", CreateInput{})
	if err != nil || sb.ID != "sb_from_leader" || len(l.got) != 1 || l.got[0].Region != "local" || l.got[0].Origin != "local" {
		t.Fatalf("create = %v, %v; leader got %+v", sb, err, l.got)
	}
	// A create forwarded to this server as the leader is placed here.
	sb, err = f.svc.Create(ToLeader(context.Background()), "t1", CreateInput{})
	if err != nil || sb.NodeID != "n1" || len(l.got) != 1 {
		t.Fatalf("forwarded create = %v, %v", sb, err)
	}
}

// fakeRemote is another region, "eu", reached through federation.
type fakeRemote struct {
	full bool
	got  []CreateInput
}

func (r *fakeRemote) Locate(context.Context, string, string) (*structs.Sandbox, string, error) {
	return nil, "", apperr.New(apperr.NotFound, "no")
}
func (r *fakeRemote) Terminate(context.Context, string, string) (*structs.Sandbox, error) {
	return nil, errors.New("not faked")
}
func (r *fakeRemote) SetTimeout(context.Context, string, string, int) (*structs.Sandbox, error) {
	return nil, errors.New("not faked")
}
func (r *fakeRemote) Create(_ context.Context, region, _ string, in CreateInput, _ bool) (*structs.Sandbox, *structs.Placement, error) {
	r.got = append(r.got, in)
	if r.full {
		return nil, nil, apperr.New(apperr.ResourceExhausted, "region %s is full", region)
	}
	return &structs.Sandbox{ID: "sb_eu", Region: region, NodeID: "eu-1"}, &structs.Placement{Region: region, Regions: in.RegionStep}, nil
}

func coordAt(ms float64) *coordinate.Coordinate {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0], c.Height = ms/1000, 0
	return c
}

func TestRegionStepChoosesAndFallsBack(t *testing.T) {
	f := newFixture(t)
	remote := &fakeRemote{}
	f.svc.cfg.Remote = remote
	f.svc.cfg.Regions = func() []placement.Region {
		return []placement.Region{{Name: "local", Coord: coordAt(0)}, {Name: "eu", Coord: coordAt(80), Summary: placement.Summary{
			Nodes: 3, Templates: []string{"base"}, Capacity: placement.Resources{VCPUs: 12, MemoryMB: 12288},
			Free: placement.Resources{VCPUs: 12, MemoryMB: 12288}, MaxFree: map[string]placement.Resources{RuntimeRunc: {VCPUs: 4, MemoryMB: 4096, DiskMB: 10000}}}}}
	}
	// A client near eu goes to eu.
	sb, err := f.svc.Create(context.Background(), "t1", CreateInput{ClientCoord: coordAt(79)})
	if err != nil || sb.Region != "eu" || len(remote.got) != 1 || remote.got[0].Region != "eu" {
		t.Fatalf("create = %+v, %v; want it sent to eu", sb, err)
	}
	if step := remote.got[0].RegionStep; len(step) != 2 || step[0].Region != "eu" || !step[0].Chosen || step[1].Chosen {
		t.Fatalf("the region step sent along = %+v", step)
	}
	// eu full: the next region, local, takes it.
	remote.full = true
	sb, err = f.svc.Create(context.Background(), "t1", CreateInput{ClientCoord: coordAt(79)})
	if err != nil || sb.Region != "local" || sb.NodeID != "n1" {
		t.Fatalf("create = %+v, %v; want local after eu was full", sb, err)
	}
	if r := sb.Placement.Regions; len(r) != 2 || r[0].Region != "eu" || !strings.Contains(r[0].Reason, "tried, full: region eu is full") || !r[1].Chosen {
		t.Fatalf("the region step should say why eu was passed over: %+v", r)
	}
	// Both full (local has no node with the label asked for): the error
	// says what each region said.
	_, err = f.svc.Create(context.Background(), "t1", CreateInput{ClientCoord: coordAt(79), Labels: map[string]string{"gpu": "yes"}})
	wantCode(t, err, apperr.ResourceExhausted)
	if msg := err.Error(); !strings.Contains(msg, "every region that could take the sandbox turned out full (eu: region eu is full; local: ") ||
		!strings.Contains(msg, "without the labels asked for") {
		t.Fatalf("error %q", msg)
	}
	// Within 50 ms of a client near eu there is only eu: full is final.
	_, err = f.svc.Create(context.Background(), "t1", CreateInput{ClientCoord: coordAt(79), MaxLatencyMs: 50})
	wantCode(t, err, apperr.ResourceExhausted)
	// A preference list no region of which is within the budget is refused.
	_, err = f.svc.Create(context.Background(), "t1", CreateInput{ClientCoord: coordAt(0), Regions: []string{"eu"}, MaxLatencyMs: 50})
	wantCode(t, err, apperr.InvalidArgument)
	// Without a client coordinate latency counts from this server's region.
	remote.full = false
	sb, err = f.svc.Create(context.Background(), "t1", CreateInput{})
	if err != nil || sb.Region != "local" {
		t.Fatalf("create = %+v, %v; want the entry region", sb, err)
	}
}

// A sandbox this region's leader created that this server has not applied
// yet is still this region's: terminate catches up before asking other
// regions.
func TestTerminateCatchesUpBeforeAskingOtherRegions(t *testing.T) {
	f := newFixture(t)
	f.svc.cfg.Remote = &fakeRemote{}
	sb := structs.Sandbox{ID: "sb_new", TeamID: "t1", Template: "base", Runtime: RuntimeRunc, Region: "local", NodeID: "n1",
		State: structs.SandboxRunning, VCPUs: 1, MemoryMB: 512, DiskMB: 512, TimeoutSeconds: 60, ExpiresAt: f.svc.cfg.Now().Add(time.Minute)}
	caughtUp := false
	// The catch-up applies what the leader committed: here, the create.
	f.svc.cfg.CatchUp = func(ctx context.Context) error {
		if !caughtUp {
			caughtUp = true
			_, err := f.store.Apply(ctx, command.SandboxCreate, command.SandboxCreateRequest{Sandbox: sb, At: f.svc.cfg.Now()})
			return err
		}
		return nil
	}
	got, err := f.svc.Terminate(context.Background(), "t1", sb.ID)
	if err != nil || got.State != structs.SandboxStopped || !caughtUp {
		t.Fatalf("terminate = %+v, %v (caught up %v)", got, err, caughtUp)
	}
}
