package nomad

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.uber.org/goleak"

	"github.com/codeint/codeint/controlplane/nomad/nomadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait of a test on the watcher.
const wait = 5 * time.Second

// The testdata nodes of the fake Nomad (nomadtest), and the region and
// job of its recorded answers.
const (
	idMeta     = nomadtest.IDMeta    // meta codeint_node_id agentMeta
	idName     = nomadtest.IDName    // known by its Name, agentName
	idUnnamed  = nomadtest.IDUnnamed // neither: ignored
	agentMeta  = nomadtest.AgentMeta
	agentName  = nomadtest.AgentName
	testRegion = nomadtest.Region
	testJob    = nomadtest.Job
	testGroup  = nomadtest.Group
)

// recordingSink records the states it receives; it can be told to fail.
type recordingSink struct {
	states chan NodeState

	mu   sync.Mutex
	fail int // the next calls that fail
}

func newSink() *recordingSink { return &recordingSink{states: make(chan NodeState, 64)} }

func (s *recordingSink) NodeState(ctx context.Context, st NodeState) error {
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		return errors.New("raft: node is not the leader")
	}
	s.mu.Unlock()
	select {
	case s.states <- st:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next waits for the next state reported.
func (s *recordingSink) next(t *testing.T) NodeState {
	t.Helper()
	select {
	case st := <-s.states:
		return st
	case <-time.After(wait):
		t.Fatal("no node state reported")
		return NodeState{}
	}
}

// nextN waits for n states, sorted by agent id.
func (s *recordingSink) nextN(t *testing.T, n int) []NodeState {
	t.Helper()
	out := make([]NodeState, 0, n)
	for range n {
		out = append(out, s.next(t))
	}
	slices.SortFunc(out, func(a, b NodeState) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}

// empty fails the test if a state is waiting.
func (s *recordingSink) empty(t *testing.T) {
	t.Helper()
	select {
	case st := <-s.states:
		t.Errorf("unexpected report %+v", st)
	default:
	}
}

// startWatcher runs a watcher on f until the test ends, and checks then
// that Run returns ctx's error.
func startWatcher(t *testing.T, f *nomadtest.Server, sink Sink) {
	t.Helper()
	w := NewWatcher(WatcherConfig{
		Client:  f.Client(),
		Region:  f.Region(),
		Sink:    sink,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after its context ended")
		}
	})
}

func wantState(t *testing.T, got, want NodeState) {
	t.Helper()
	if got != want {
		t.Errorf("state\n got %+v\nwant %+v", got, want)
	}
}

// readyMeta and readyName are the states of the testdata nodes as listed.
var (
	readyMeta = NodeState{NodeID: agentMeta, NomadID: idMeta, Datacenter: "eu-west-1a", Eligible: true, Index: 1192}
	readyName = NodeState{NodeID: agentName, NomadID: idName, Datacenter: "eu-west-1b", Eligible: true, Index: 1205}
)

func TestWatcherReportsListedNodes(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile, nomadtest.NodeUnnamedFile)
	sink := newSink()
	startWatcher(t, f, sink)

	got := sink.nextN(t, 2)
	wantState(t, got[0], readyMeta) // named by meta codeint_node_id, not by its Name
	wantState(t, got[1], readyName) // no meta: named by its Name

	s := f.NextStream(t)
	if want := f.Index() + 1; s.Index != want {
		t.Errorf("stream from index %d, want %d (the list's index + 1)", s.Index, want)
	}
	if !slices.Equal(s.Topics, []string{"Node:*"}) {
		t.Errorf("stream topics %q, want [Node:*]", s.Topics)
	}
	for _, id := range []string{idMeta, idName, idUnnamed} {
		if n := len(f.RequestsTo(http.MethodGet, "/v1/node/"+id)); n != 1 {
			t.Errorf("node %s read %d times, want 1 (its meta names the agent)", id, n)
		}
	}

	// The node with neither meta nor name is never reported: the next
	// report is the change after its own.
	s.Send(t, f.Change(idUnnamed, "NodeDrain", nomadtest.Drain))
	s.Send(t, f.Change(idName, "NodeEligibility", nomadtest.SetEligibility(api.NodeSchedulingIneligible)))
	want := readyName
	want.Eligible, want.Index = false, f.Index()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherRecordedDrainEvent(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.NextStream(t)

	// testdata/stream_node_drain.json is what Nomad streams when the node
	// is drained: heartbeats around one NodeDrain event.
	for line := range bytes.Lines(nomadtest.Testdata(t, nomadtest.StreamDrainFile)) {
		s.Send(t, bytes.TrimSpace(line))
	}
	got := sink.next(t)
	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, 1220
	wantState(t, got, want)
	if !got.Closed() {
		t.Error("a draining node is not Closed")
	}
	// The heartbeats reported nothing.
	sink.empty(t)
}

func TestWatcherEligibilityDownAndDeregistration(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.NextStream(t)

	s.Send(t, f.Change(idMeta, "NodeEligibility", nomadtest.SetEligibility(api.NodeSchedulingIneligible)))
	got := sink.next(t)
	want := readyMeta
	want.Eligible, want.Index = false, f.Index()
	wantState(t, got, want)
	if !got.Closed() {
		t.Error("an ineligible node is not Closed")
	}

	s.Send(t, f.Change(idName, "NodeStreamEvent", nomadtest.SetStatus(api.NodeStatusDown, "node heartbeat missed")))
	got = sink.next(t)
	want = readyName
	want.Down, want.Index = true, f.Index()
	wantState(t, got, want)
	if !got.Closed() {
		t.Error("a down node is not Closed")
	}

	s.Send(t, f.Change(idName, "NodeStreamEvent", nomadtest.SetStatus(api.NodeStatusReady, "")))
	got = sink.next(t)
	want = readyName
	want.Index = f.Index()
	wantState(t, got, want)
	if got.Closed() {
		t.Error("a ready, eligible node is Closed")
	}

	s.Send(t, f.Remove(idMeta))
	want = readyMeta
	want.Eligible, want.Down, want.Index = false, true, f.Index()
	wantState(t, sink.next(t), want)
}

func TestWatcherFollowsMetaChange(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile)
	sink := newSink()
	startWatcher(t, f, sink)
	wantState(t, sink.next(t), readyMeta)
	s := f.NextStream(t)

	// The client restarts with another codeint_node_id: Nomad streams the
	// re-registration.
	s.Send(t, f.Change(idMeta, "NodeRegistration", func(n map[string]any) {
		n["Meta"].(map[string]any)[MetaNodeID] = "agent-euw1-z"
	}))
	want := readyMeta
	want.NodeID, want.Index = "agent-euw1-z", f.Index()
	wantState(t, sink.next(t), want)
}

func TestWatcherDeduplicates(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.NextStream(t)

	// Changes that leave the derived state as it was: a node event, a
	// re-registration with a new Nomad version, a heartbeat.
	s.Send(t, f.Change(idMeta, "NodeStreamEvent", func(n map[string]any) {
		n["Events"] = append(n["Events"].([]any), map[string]any{
			"CreateIndex": 0, "Details": nil, "Message": "Node reregistered by heartbeat",
			"Subsystem": "Cluster", "Timestamp": "2026-10-20T09:40:00Z",
		})
	}))
	s.Send(t, f.Change(idName, "NodeRegistration", func(n map[string]any) {
		n["Attributes"].(map[string]any)["nomad.version"] = "1.10.6"
	}))
	s.Heartbeat(t)
	// The same drain twice (the second moves its deadline): one report.
	s.Send(t, f.Change(idMeta, "NodeDrain", nomadtest.Drain))
	drainIndex := f.Index()
	s.Send(t, f.Change(idMeta, "NodeDrain", func(n map[string]any) {
		n["DrainStrategy"].(map[string]any)["ForceDeadline"] = "2026-10-20T11:00:00Z"
	}))
	// A real change last, to know the ones before it were handled.
	s.Send(t, f.Change(idName, "NodeEligibility", nomadtest.SetEligibility(api.NodeSchedulingIneligible)))

	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, drainIndex
	wantState(t, sink.next(t), want)
	want = readyName
	want.Eligible, want.Index = false, f.Index()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherSkipsEventsTheListSaw(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	var replay [][]byte
	// The node is drained and undrained after Nomad answers the list but
	// before the watcher reads the node: the read sees it undrained, and
	// the stream, from the list's index, replays both changes.
	f.OnNextList(func() {
		replay = append(replay,
			f.Change(idMeta, "NodeDrain", nomadtest.Drain),
			f.Change(idMeta, "NodeDrain", nomadtest.Undrain))
	})
	sink := newSink()
	startWatcher(t, f, sink)
	got := sink.nextN(t, 2)
	want := readyMeta
	want.Index = f.Index()
	wantState(t, got[0], want)
	s := f.NextStream(t)
	if s.Index != want.Index-1 {
		t.Fatalf("stream from %d, want %d", s.Index, want.Index-1)
	}
	for _, frame := range replay {
		s.Send(t, frame)
	}
	s.Send(t, f.Change(idName, "NodeStreamEvent", nomadtest.SetStatus(api.NodeStatusDown, "node heartbeat missed")))
	want = readyName
	want.Down, want.Index = true, f.Index()
	wantState(t, sink.next(t), want) // and no drain of agentMeta before it
	sink.empty(t)
}

func TestWatcherRelistsAfterBrokenStream(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.NextStream(t)

	// While the connection dies, one node is drained and the other
	// deregistered; the stream never carries either.
	f.Change(idMeta, "NodeDrain", nomadtest.Drain)
	drainIndex := f.Index()
	f.Remove(idName)
	s.Break()

	got := sink.nextN(t, 2)
	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, drainIndex
	wantState(t, got[0], want)
	want = readyName
	want.Down, want.Index = true, f.Index() // gone from the list
	wantState(t, got[1], want)

	s = f.NextStream(t)
	if want := f.Index() + 1; s.Index != want {
		t.Errorf("second stream from index %d, want %d", s.Index, want)
	}
	if n := len(f.RequestsTo(http.MethodGet, "/v1/nodes")); n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
	// The new stream is followed.
	s.Send(t, f.Change(idMeta, "NodeDrain", nomadtest.Undrain))
	want = readyMeta
	want.Index = f.Index()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherRetriesFailedListAndSink(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	f.FailLists(http.StatusInternalServerError, http.StatusInternalServerError)
	sink := newSink()
	sink.fail = 1 // the first report fails: the next list reports again
	startWatcher(t, f, sink)

	got := sink.nextN(t, 2)
	wantState(t, got[0], readyMeta)
	wantState(t, got[1], readyName)
	f.NextStream(t)
	// Two failed lists, one whose report failed, one that succeeded.
	if n := len(f.RequestsTo(http.MethodGet, "/v1/nodes")); n != 4 {
		t.Errorf("%d lists, want 4", n)
	}
	sink.empty(t)
}

// TestWatcherFollowsPublishedChanges drives the watcher the way a test of
// real processes drives codeint's: through changes the fake publishes as
// Nomad does, never touching the stream. The first change may come before
// the watcher's stream is open: Nomad's event buffer replays it.
func TestWatcherFollowsPublishedChanges(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile)
	sink := newSink()
	startWatcher(t, f, sink)
	wantState(t, sink.next(t), readyMeta)

	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, f.DrainNode(idMeta)
	wantState(t, sink.next(t), want)

	f.AddNode(nomadtest.NodeNameFile)
	want = readyName
	want.Index = f.Index()
	wantState(t, sink.next(t), want)

	want = readyName
	want.Eligible, want.Down, want.Index = true, true, f.Deregister(idName)
	wantState(t, sink.next(t), want)

	want = readyMeta
	want.Index = f.UndrainNode(idMeta)
	wantState(t, sink.next(t), want)
	sink.empty(t)
	if n := len(f.RequestsTo(http.MethodGet, "/v1/nodes")); n != 1 {
		t.Errorf("%d lists, want 1 (the stream carried every change)", n)
	}
}

func TestWatcherRetriesRefusedStream(t *testing.T) {
	f := nomadtest.New(t, testRegion, nomadtest.NodeMetaFile)
	f.RefuseStreams(http.StatusForbidden)
	sink := newSink()
	startWatcher(t, f, sink)
	wantState(t, sink.next(t), readyMeta)

	// The refused stream is followed by a second list, which reports
	// nothing new, and a stream that works.
	s := f.NextStream(t)
	if n := len(f.RequestsTo(http.MethodGet, "/v1/event/stream")); n != 2 {
		t.Errorf("%d stream requests, want 2", n)
	}
	if n := len(f.RequestsTo(http.MethodGet, "/v1/nodes")); n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
	s.Send(t, f.Change(idMeta, "NodeDrain", nomadtest.Drain))
	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, f.Index()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherNeedsClientAndSink(t *testing.T) {
	if err := NewWatcher(WatcherConfig{}).Run(t.Context()); err == nil {
		t.Error("Run without a client and sink returned nil")
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		base     time.Duration
		failures int
		want     time.Duration
	}{
		{time.Second, 1, time.Second},
		{time.Second, 2, 2 * time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 6, 30 * time.Second},
		{time.Second, 1000, 30 * time.Second},
		{10 * time.Millisecond, 3, 40 * time.Millisecond},
		{time.Minute, 5, time.Minute},
	} {
		if got := backoff(c.base, c.failures); got != c.want {
			t.Errorf("backoff(%s, %d) = %s, want %s", c.base, c.failures, got, c.want)
		}
	}
}

func TestNodeStateClosed(t *testing.T) {
	for _, c := range []struct {
		s    NodeState
		want bool
	}{
		{NodeState{Eligible: true}, false},
		{NodeState{Eligible: false}, true},
		{NodeState{Eligible: true, Draining: true}, true},
		{NodeState{Eligible: true, Down: true}, true},
	} {
		if got := c.s.Closed(); got != c.want {
			t.Errorf("%+v.Closed() = %v, want %v", c.s, got, c.want)
		}
	}
}

func TestAgentID(t *testing.T) {
	for _, c := range []struct {
		n    *api.Node
		want string
	}{
		{&api.Node{Name: "host-1", Meta: map[string]string{MetaNodeID: "agent-1"}}, "agent-1"},
		{&api.Node{Name: "host-1", Meta: map[string]string{MetaNodeID: ""}}, "host-1"},
		{&api.Node{Name: "host-1"}, "host-1"},
		{&api.Node{}, ""},
		{nil, ""},
	} {
		if got := AgentID(c.n); got != c.want {
			t.Errorf("AgentID(%+v) = %q, want %q", c.n, got, c.want)
		}
	}
}
