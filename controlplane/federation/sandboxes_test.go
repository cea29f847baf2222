package federation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// fakeSandboxes is a region's sandbox service: the sandboxes it holds,
// and a count of the calls.
type fakeSandboxes struct {
	mu         sync.Mutex
	held       map[string]structs.Sandbox
	gets, ops  int
	timeoutErr error // what SetTimeout answers, when set
}

func newSandboxes(sbs ...structs.Sandbox) *fakeSandboxes {
	s := &fakeSandboxes{held: map[string]structs.Sandbox{}}
	for _, sb := range sbs {
		s.held[sb.ID] = sb
	}
	return s
}

func (s *fakeSandboxes) find(teamID, id string) (structs.Sandbox, error) {
	sb, ok := s.held[id]
	if !ok || sb.TeamID != teamID {
		return structs.Sandbox{}, apperr.New(apperr.NotFound, "sandbox %q not found", id)
	}
	return sb, nil
}

func (s *fakeSandboxes) Get(_ context.Context, teamID, id string) (*structs.Sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	sb, err := s.find(teamID, id)
	if err != nil {
		return nil, err
	}
	return &sb, nil
}

func (s *fakeSandboxes) Terminate(_ context.Context, teamID, id string) (*structs.Sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	sb, err := s.find(teamID, id)
	if err != nil {
		return nil, err
	}
	sb.State = structs.SandboxStopped
	s.held[id] = sb
	return &sb, nil
}

func (s *fakeSandboxes) SetTimeout(_ context.Context, teamID, id string, seconds int) (*structs.Sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	if s.timeoutErr != nil {
		return nil, s.timeoutErr
	}
	sb, err := s.find(teamID, id)
	if err != nil {
		return nil, err
	}
	sb.TimeoutSeconds = seconds
	s.held[id] = sb
	return &sb, nil
}

// counts returns the Get and operation calls so far.
func (s *fakeSandboxes) counts() (gets, ops int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets, s.ops
}

// sandboxWorld is three federated regions: eu asks, us holds nothing,
// ap holds sb1 of team1 on node n1.
type sandboxWorld struct {
	eu, us, ap   *server
	usSbx, apSbx *fakeSandboxes
	agentOfN1    string
	sb1          structs.Sandbox
}

func newSandboxWorld(t *testing.T) *sandboxWorld {
	t.Helper()
	w := &sandboxWorld{
		eu: startServer(t, "eu", "eu"), us: startServer(t, "us", "eu"), ap: startServer(t, "ap", "eu"),
		agentOfN1: "10.0.0.9:7001",
		sb1:       structs.Sandbox{ID: "sb1", TeamID: "team1", NodeID: "n1", Region: "ap", State: structs.SandboxRunning, TimeoutSeconds: 60},
	}
	w.usSbx, w.apSbx = newSandboxes(), newSandboxes(w.sb1)
	w.us.fed.Serve(w.usSbx)
	w.ap.fed.Serve(w.apSbx)
	w.ap.local.seed(nil, nil, structs.Node{ID: "n1", Region: "ap", RPCAddr: w.agentOfN1})
	w.eu.probe(t, w.us.addr, w.ap.addr)
	return w
}

// TestLocateAsksEveryRegionThenRemembers: the first lookup asks every
// other healthy region at once and takes the answer that is not
// NOT_FOUND, with the agent's address; the next one asks the server that
// answered, and only it.
func TestLocateAsksEveryRegionThenRemembers(t *testing.T) {
	w := newSandboxWorld(t)
	sb, agent, err := w.eu.fed.Locate(testCtx(t), "team1", "sb1")
	if err != nil {
		t.Fatal(err)
	}
	if sb.ID != "sb1" || sb.NodeID != "n1" || sb.Region != "ap" || agent != w.agentOfN1 {
		t.Fatalf("located %+v at agent %q", sb, agent)
	}
	waitFor(t, "us to have been asked too", func() bool { g, _ := w.usSbx.counts(); return g == 1 })
	if g, _ := w.apSbx.counts(); g != 1 {
		t.Fatalf("ap asked %d times", g)
	}

	if _, _, err := w.eu.fed.Locate(testCtx(t), "team1", "sb1"); err != nil {
		t.Fatal(err)
	}
	usGets, _ := w.usSbx.counts()
	apGets, _ := w.apSbx.counts()
	if usGets != 1 || apGets != 2 {
		t.Fatalf("second lookup asked us %d times and ap %d times in all; want only the remembered ap", usGets, apGets)
	}
}

// TestLocateFallsBackWhenTheRememberedServerSaysNotFound: the sandbox
// is no longer where it was (here: asked for another team): every region
// is asked again, and the answer is NOT_FOUND.
func TestLocateFallsBackWhenTheRememberedServerSaysNotFound(t *testing.T) {
	w := newSandboxWorld(t)
	if _, _, err := w.eu.fed.Locate(testCtx(t), "team1", "sb1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "us to have been asked", func() bool { g, _ := w.usSbx.counts(); return g == 1 })
	_, _, err := w.eu.fed.Locate(testCtx(t), "team2", "sb1")
	if !errors.Is(err, apperr.ErrNotFound) || strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("got %v, want a plain NOT_FOUND", err)
	}
	apGets, _ := w.apSbx.counts()
	usGets, _ := w.usSbx.counts()
	if apGets != 3 || usGets != 2 {
		t.Fatalf("ap asked %d times, us %d: want the remembered server, then every region", apGets, usGets)
	}
}

// TestLocateNamesUnreachableRegions: NOT_FOUND from every region asked,
// naming the regions that could not be asked (no fresh probe), but not
// the refused ones.
func TestLocateNamesUnreachableRegions(t *testing.T) {
	w := newSandboxWorld(t)
	w.eu.fed.inject(peerState{addr: deadAddr(t), region: "sa", claims: "eu", lastOK: time.Now().Add(-time.Minute)})
	w.eu.fed.inject(peerState{addr: deadAddr(t), region: "xx", claims: "xx", lastOK: time.Now(), refused: true})
	_, _, err := w.eu.fed.Locate(testCtx(t), "team1", "nope")
	if !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("got %v, want NOT_FOUND", err)
	}
	if want := `sandbox "nope" not found (regions not reachable now: sa)`; err.Error() != want {
		t.Fatalf("message %q, want %q: sa named as unreachable, and only sa", err, want)
	}
	// A sandbox held by a reachable region is still found.
	if _, _, err := w.eu.fed.Locate(testCtx(t), "team1", "sb1"); err != nil {
		t.Fatal(err)
	}
}

// TestNotFoundNamesRegionsThatFailedTheCall: a region that was
// probed healthy but fails the lookup (UNAVAILABLE: here, its sandbox
// service has not started) could not be asked either; the NOT_FOUND must
// name it. It fails today: askRegions (sandboxes.go) names only the
// regions without a fresh probe, and says "(regions not reachable now: )"
// with an empty list.
func TestNotFoundNamesRegionsThatFailedTheCall(t *testing.T) {
	w := newSandboxWorld(t)
	starting := startServer(t, "sa", "eu") // never Serve()d: UNAVAILABLE
	w.eu.probe(t, starting.addr)
	_, _, err := w.eu.fed.Locate(testCtx(t), "team1", "nope")
	if !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("got %v, want NOT_FOUND", err)
	}
	if !strings.HasSuffix(err.Error(), "(regions not reachable now: sa)") {
		t.Fatalf("message %q does not name region sa, which could not answer", err)
	}
}

// TestLocateReturnsARefusalAsIs: an answer other than NOT_FOUND or
// UNAVAILABLE is the answer (the region that holds the sandbox refused).
func TestLocateReturnsARefusalAsIs(t *testing.T) {
	w := newSandboxWorld(t)
	w.apSbx.mu.Lock()
	w.apSbx.timeoutErr = apperr.New(apperr.InvalidArgument, "timeout 99999s is above the limit")
	w.apSbx.mu.Unlock()
	_, err := w.eu.fed.SetTimeout(testCtx(t), "team1", "sb1", 99999)
	if apperr.CodeOf(err) != apperr.InvalidArgument || !strings.Contains(err.Error(), "above the limit") {
		t.Fatalf("got %v, want ap's INVALID_ARGUMENT", err)
	}
}

// TestSandboxOpsRunInTheHoldingRegion: Terminate and SetTimeout change
// the sandbox in the region that holds it, and only there.
func TestSandboxOpsRunInTheHoldingRegion(t *testing.T) {
	w := newSandboxWorld(t)
	sb, err := w.eu.fed.SetTimeout(testCtx(t), "team1", "sb1", 300)
	if err != nil || sb.TimeoutSeconds != 300 {
		t.Fatalf("SetTimeout: %+v, %v", sb, err)
	}
	sb, err = w.eu.fed.Terminate(testCtx(t), "team1", "sb1")
	if err != nil || sb.State != structs.SandboxStopped {
		t.Fatalf("Terminate: %+v, %v", sb, err)
	}
	if _, ops := w.apSbx.counts(); ops != 2 {
		t.Fatalf("ap ran %d operations, want 2", ops)
	}
	if _, ops := w.usSbx.counts(); ops != 0 {
		t.Fatalf("us ran %d operations", ops)
	}
	if _, err := w.eu.fed.Terminate(testCtx(t), "team1", "nope"); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("terminating an unknown sandbox: %v", err)
	}
}

// TestServingSandboxes: GetSandbox and SandboxOp as the holding region
// answers them: UNAVAILABLE before Serve, a disagreeing caller refused,
// an unknown operation INVALID_ARGUMENT.
func TestServingSandboxes(t *testing.T) {
	ap := New(Config{Region: "ap", Authoritative: "eu", Local: newLocal(t, "")})
	ok := &serverpb.Caller{Region: "eu", AuthoritativeRegion: "eu"}
	req := &serverpb.SandboxRequest{Caller: ok, TeamId: "team1", SandboxId: "sb1"}
	if _, err := ap.GetSandbox(testCtx(t), req); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("before Serve: %v", err)
	}
	ap.Serve(newSandboxes(structs.Sandbox{ID: "sb1", TeamID: "team1", NodeID: "gone"}))
	r, err := ap.GetSandbox(testCtx(t), req)
	if err != nil || len(r.GetSandbox()) == 0 || r.GetAgentRpcAddr() != "" {
		t.Fatalf("a sandbox whose node is unknown: %v, %v", r, err)
	}
	bad := &serverpb.SandboxRequest{Caller: &serverpb.Caller{Region: "us", AuthoritativeRegion: "us"}, TeamId: "team1", SandboxId: "sb1", Op: opTerminate}
	if _, err := ap.SandboxOp(testCtx(t), bad); !errors.Is(err, ErrConflict) {
		t.Fatalf("disagreeing caller: %v", err)
	}
	if _, err := ap.GetSandbox(testCtx(t), bad); !errors.Is(err, ErrConflict) {
		t.Fatalf("disagreeing caller: %v", err)
	}
	unknown := &serverpb.SandboxRequest{Caller: ok, TeamId: "team1", SandboxId: "sb1", Op: "pause"}
	if _, err := ap.SandboxOp(testCtx(t), unknown); apperr.CodeOf(err) != apperr.InvalidArgument {
		t.Fatalf("unknown operation: %v", err)
	}
}

// TestLocatedIsBounded: the memory of where sandboxes are starts over
// when full.
func TestLocatedIsBounded(t *testing.T) {
	var l located
	for i := range maxLocated {
		l.put(string(rune('a'+i%26))+strings.Repeat("x", i/26), "s1")
	}
	if got := l.get("a"); got != "s1" {
		t.Fatalf("get = %q", got)
	}
	l.put("new", "s2")
	if l.get("a") != "" || l.get("new") != "s2" {
		t.Fatal("a full memory was not started over")
	}
}
