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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
func startWatcher(t *testing.T, f *fakeNomad, sink Sink) {
	t.Helper()
	w := NewWatcher(WatcherConfig{
		Client:  f.client(),
		Region:  f.region,
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
	f := newFake(t, testRegion, "node_meta.json", "node_name.json", "node_unnamed.json")
	sink := newSink()
	startWatcher(t, f, sink)

	got := sink.nextN(t, 2)
	wantState(t, got[0], readyMeta) // named by meta codeint_node_id, not by its Name
	wantState(t, got[1], readyName) // no meta: named by its Name

	s := f.nextStream(t)
	if want := f.currentIndex() + 1; s.Index != want {
		t.Errorf("stream from index %d, want %d (the list's index + 1)", s.Index, want)
	}
	if !slices.Equal(s.Topics, []string{"Node:*"}) {
		t.Errorf("stream topics %q, want [Node:*]", s.Topics)
	}
	for _, id := range []string{idMeta, idName, idUnnamed} {
		if n := len(f.requestsTo(http.MethodGet, "/v1/node/"+id)); n != 1 {
			t.Errorf("node %s read %d times, want 1 (its meta names the agent)", id, n)
		}
	}

	// The node with neither meta nor name is never reported: the next
	// report is the change after its own.
	s.send(t, f.change(idUnnamed, "NodeDrain", drain))
	s.send(t, f.change(idName, "NodeEligibility", setEligibility(api.NodeSchedulingIneligible)))
	want := readyName
	want.Eligible, want.Index = false, f.currentIndex()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherRecordedDrainEvent(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json", "node_name.json")
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.nextStream(t)

	// testdata/stream_node_drain.json is what Nomad streams when the node
	// is drained: heartbeats around one NodeDrain event.
	for line := range bytes.Lines(readTestdata(t, "stream_node_drain.json")) {
		s.send(t, bytes.TrimSpace(line))
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
	f := newFake(t, testRegion, "node_meta.json", "node_name.json")
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.nextStream(t)

	s.send(t, f.change(idMeta, "NodeEligibility", setEligibility(api.NodeSchedulingIneligible)))
	got := sink.next(t)
	want := readyMeta
	want.Eligible, want.Index = false, f.currentIndex()
	wantState(t, got, want)
	if !got.Closed() {
		t.Error("an ineligible node is not Closed")
	}

	s.send(t, f.change(idName, "NodeStreamEvent", setStatus(api.NodeStatusDown, "node heartbeat missed")))
	got = sink.next(t)
	want = readyName
	want.Down, want.Index = true, f.currentIndex()
	wantState(t, got, want)
	if !got.Closed() {
		t.Error("a down node is not Closed")
	}

	s.send(t, f.change(idName, "NodeStreamEvent", setStatus(api.NodeStatusReady, "")))
	got = sink.next(t)
	want = readyName
	want.Index = f.currentIndex()
	wantState(t, got, want)
	if got.Closed() {
		t.Error("a ready, eligible node is Closed")
	}

	s.send(t, f.remove(idMeta))
	want = readyMeta
	want.Eligible, want.Down, want.Index = false, true, f.currentIndex()
	wantState(t, sink.next(t), want)
}

func TestWatcherFollowsMetaChange(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json")
	sink := newSink()
	startWatcher(t, f, sink)
	wantState(t, sink.next(t), readyMeta)
	s := f.nextStream(t)

	// The client restarts with another codeint_node_id: Nomad streams the
	// re-registration.
	s.send(t, f.change(idMeta, "NodeRegistration", func(n map[string]any) {
		n["Meta"].(map[string]any)[MetaNodeID] = "agent-euw1-z"
	}))
	want := readyMeta
	want.NodeID, want.Index = "agent-euw1-z", f.currentIndex()
	wantState(t, sink.next(t), want)
}

func TestWatcherDeduplicates(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json", "node_name.json")
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.nextStream(t)

	// Changes that leave the derived state as it was: a node event, a
	// re-registration with a new Nomad version, a heartbeat.
	s.send(t, f.change(idMeta, "NodeStreamEvent", func(n map[string]any) {
		n["Events"] = append(n["Events"].([]any), map[string]any{
			"CreateIndex": 0, "Details": nil, "Message": "Node reregistered by heartbeat",
			"Subsystem": "Cluster", "Timestamp": "2026-10-20T09:40:00Z",
		})
	}))
	s.send(t, f.change(idName, "NodeRegistration", func(n map[string]any) {
		n["Attributes"].(map[string]any)["nomad.version"] = "1.10.6"
	}))
	s.heartbeat(t)
	// The same drain twice (the second moves its deadline): one report.
	s.send(t, f.change(idMeta, "NodeDrain", drain))
	drainIndex := f.currentIndex()
	s.send(t, f.change(idMeta, "NodeDrain", func(n map[string]any) {
		n["DrainStrategy"].(map[string]any)["ForceDeadline"] = "2026-10-20T11:00:00Z"
	}))
	// A real change last, to know the ones before it were handled.
	s.send(t, f.change(idName, "NodeEligibility", setEligibility(api.NodeSchedulingIneligible)))

	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, drainIndex
	wantState(t, sink.next(t), want)
	want = readyName
	want.Eligible, want.Index = false, f.currentIndex()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherSkipsEventsTheListSaw(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json", "node_name.json")
	var replay [][]byte
	// The node is drained and undrained after Nomad answers the list but
	// before the watcher reads the node: the read sees it undrained, and
	// the stream, from the list's index, replays both changes.
	f.onNextList(func() {
		replay = append(replay,
			f.change(idMeta, "NodeDrain", drain),
			f.change(idMeta, "NodeDrain", undrain))
	})
	sink := newSink()
	startWatcher(t, f, sink)
	got := sink.nextN(t, 2)
	want := readyMeta
	want.Index = f.currentIndex()
	wantState(t, got[0], want)
	s := f.nextStream(t)
	if s.Index != want.Index-1 {
		t.Fatalf("stream from %d, want %d", s.Index, want.Index-1)
	}
	for _, frame := range replay {
		s.send(t, frame)
	}
	s.send(t, f.change(idName, "NodeStreamEvent", setStatus(api.NodeStatusDown, "node heartbeat missed")))
	want = readyName
	want.Down, want.Index = true, f.currentIndex()
	wantState(t, sink.next(t), want) // and no drain of agentMeta before it
	sink.empty(t)
}

func TestWatcherRelistsAfterBrokenStream(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json", "node_name.json")
	sink := newSink()
	startWatcher(t, f, sink)
	sink.nextN(t, 2)
	s := f.nextStream(t)

	// While the connection dies, one node is drained and the other
	// deregistered; the stream never carries either.
	f.change(idMeta, "NodeDrain", drain)
	drainIndex := f.currentIndex()
	f.remove(idName)
	s.breakConn()

	got := sink.nextN(t, 2)
	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, drainIndex
	wantState(t, got[0], want)
	want = readyName
	want.Down, want.Index = true, f.currentIndex() // gone from the list
	wantState(t, got[1], want)

	s = f.nextStream(t)
	if want := f.currentIndex() + 1; s.Index != want {
		t.Errorf("second stream from index %d, want %d", s.Index, want)
	}
	if n := len(f.requestsTo(http.MethodGet, "/v1/nodes")); n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
	// The new stream is followed.
	s.send(t, f.change(idMeta, "NodeDrain", undrain))
	want = readyMeta
	want.Index = f.currentIndex()
	wantState(t, sink.next(t), want)
	sink.empty(t)
}

func TestWatcherRetriesFailedListAndSink(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json", "node_name.json")
	f.failLists(http.StatusInternalServerError, http.StatusInternalServerError)
	sink := newSink()
	sink.fail = 1 // the first report fails: the next list reports again
	startWatcher(t, f, sink)

	got := sink.nextN(t, 2)
	wantState(t, got[0], readyMeta)
	wantState(t, got[1], readyName)
	f.nextStream(t)
	// Two failed lists, one whose report failed, one that succeeded.
	if n := len(f.requestsTo(http.MethodGet, "/v1/nodes")); n != 4 {
		t.Errorf("%d lists, want 4", n)
	}
	sink.empty(t)
}

func TestWatcherRetriesRefusedStream(t *testing.T) {
	f := newFake(t, testRegion, "node_meta.json")
	f.refuseStreams(http.StatusForbidden)
	sink := newSink()
	startWatcher(t, f, sink)
	wantState(t, sink.next(t), readyMeta)

	// The refused stream is followed by a second list, which reports
	// nothing new, and a stream that works.
	s := f.nextStream(t)
	if n := len(f.requestsTo(http.MethodGet, "/v1/event/stream")); n != 2 {
		t.Errorf("%d stream requests, want 2", n)
	}
	if n := len(f.requestsTo(http.MethodGet, "/v1/nodes")); n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
	s.send(t, f.change(idMeta, "NodeDrain", drain))
	want := readyMeta
	want.Draining, want.Eligible, want.Index = true, false, f.currentIndex()
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
