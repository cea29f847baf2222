package nomadtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.uber.org/goleak"

	"github.com/codeint/codeint/controlplane/nomad/nomadtest"
)

// The fake is exercised through the official api client, so its answers
// are checked against the shapes the client decodes.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func query() *api.QueryOptions { return &api.QueryOptions{Region: nomadtest.Region} }

func TestListAndReadNodes(t *testing.T) {
	f := nomadtest.New(t, nomadtest.Region, nomadtest.NodeNameFile, nomadtest.NodeMetaFile, nomadtest.NodeUnnamedFile)
	c := f.Client()
	stubs, meta, err := c.Nodes().List(query())
	if err != nil {
		t.Fatal(err)
	}
	if meta.LastIndex != 1213 || !meta.KnownLeader || f.Index() != 1213 {
		t.Errorf("list index %d (known leader %v), fake index %d; want 1213, the highest ModifyIndex", meta.LastIndex, meta.KnownLeader, f.Index())
	}
	// The api client orders the list by CreateIndex, newest first.
	var ids []string
	for _, s := range stubs {
		ids = append(ids, s.ID)
	}
	if want := []string{nomadtest.IDUnnamed, nomadtest.IDName, nomadtest.IDMeta}; !slices.Equal(ids, want) {
		t.Fatalf("listed %v, want %v", ids, want)
	}
	if s := stubs[2]; s.Name != "ip-10-0-1-17" || s.Datacenter != "eu-west-1a" || s.Drain || s.Status != api.NodeStatusReady ||
		s.SchedulingEligibility != api.NodeSchedulingEligible || s.ModifyIndex != 1192 || s.Address != "10.0.1.17" {
		t.Errorf("stub %+v", s)
	}
	n, _, err := c.Nodes().Info(nomadtest.IDMeta, query())
	if err != nil {
		t.Fatal(err)
	}
	if n.Meta["codeint_node_id"] != nomadtest.AgentMeta || n.DrainStrategy != nil || n.NodeResources.Cpu.TotalCpuCores != 16 {
		t.Errorf("node %s: meta %v, drain %v", n.ID, n.Meta, n.DrainStrategy)
	}
	n, _, err = c.Nodes().Info(nomadtest.IDName, query())
	if err != nil || n.Name != nomadtest.AgentName || n.Meta["codeint_node_id"] != "" {
		t.Errorf("node %s: name %q, meta %v, err %v", nomadtest.IDName, n.Name, n.Meta, err)
	}
	_, _, err = c.Nodes().Info("9e0f2d4c-0000-4000-8000-000000000000", query())
	var ue api.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.StatusCode() != http.StatusNotFound {
		t.Errorf("unknown node: %v, want 404", err)
	}
	if got := len(f.RequestsTo(http.MethodGet, "/v1/node/"+nomadtest.IDMeta)); got != 1 {
		t.Errorf("%d reads of %s recorded, want 1", got, nomadtest.IDMeta)
	}
}

// follow opens an event stream on the Node topic from index and returns
// its events.
func follow(t *testing.T, c *api.Client, index uint64, topic string) <-chan *api.Events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := c.EventStream().Stream(ctx, map[api.Topic][]string{api.TopicNode: {topic}}, index, query())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// nextEvent waits for the next non-heartbeat event on ch.
func nextEvent(t *testing.T, ch <-chan *api.Events) (api.Event, *api.Node) {
	t.Helper()
	for {
		select {
		case evs, ok := <-ch:
			if !ok || evs.Err != nil {
				t.Fatalf("stream ended: %v", evs)
			}
			if evs.IsHeartbeat() {
				continue
			}
			if len(evs.Events) != 1 {
				t.Fatalf("frame of %d events", len(evs.Events))
			}
			e := evs.Events[0]
			n, err := e.Node()
			if err != nil || e.Topic != api.TopicNode || e.Index != evs.Index || n == nil || n.ID != e.Key {
				t.Fatalf("event %+v: node %v, %v", e, n, err)
			}
			return e, n
		case <-time.After(nomadtest.Wait):
			t.Fatal("no event")
		}
	}
}

func noEvent(t *testing.T, ch <-chan *api.Events) {
	t.Helper()
	select {
	case evs := <-ch:
		t.Errorf("unexpected frame %+v", evs)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPublishedChanges(t *testing.T) {
	f := nomadtest.New(t, nomadtest.Region, nomadtest.NodeMetaFile, nomadtest.NodeNameFile)
	c := f.Client()
	start := f.Index() + 1
	all := follow(t, c, start, "*")
	onlyName := follow(t, c, start, nomadtest.IDName)
	// The two streams open concurrently: either may reach the server first.
	var topics []string
	for range 2 {
		s := f.NextStream(t)
		if s.Index != start || len(s.Topics) != 1 {
			t.Errorf("a stream from %d on %v, want one topic from %d", s.Index, s.Topics, start)
			continue
		}
		topics = append(topics, s.Topics[0])
	}
	if slices.Sort(topics); !slices.Equal(topics, []string{"Node:*", "Node:" + nomadtest.IDName}) {
		t.Errorf("streams on %v, want Node:* and Node:%s", topics, nomadtest.IDName)
	}
	if n := len(f.OpenStreams()); n != 2 {
		t.Fatalf("%d open streams, want 2", n)
	}

	drained := f.DrainNode(nomadtest.IDMeta)
	e, n := nextEvent(t, all)
	if e.Type != "NodeDrain" || e.Index != drained || n.ID != nomadtest.IDMeta || n.DrainStrategy == nil || !n.Drain ||
		n.SchedulingEligibility != api.NodeSchedulingIneligible || n.ModifyIndex != drained {
		t.Errorf("drain event %s at %d: node %+v", e.Type, e.Index, n)
	}
	if cur, _, err := c.Nodes().Info(nomadtest.IDMeta, query()); err != nil || cur.DrainStrategy == nil {
		t.Errorf("the read after the drain: %v, %v", cur, err)
	}
	if n, ok := f.Node(nomadtest.IDMeta); !ok || n["DrainStrategy"] == nil || n["SchedulingEligibility"] != api.NodeSchedulingIneligible {
		t.Errorf("Node after the drain: %v, %v", n, ok)
	}
	ineligible := f.SetNodeEligibility(nomadtest.IDName, api.NodeSchedulingIneligible)
	down := f.SetNodeStatus(nomadtest.IDName, api.NodeStatusDown, "node heartbeat missed")
	for _, ch := range []<-chan *api.Events{all, onlyName} {
		e, n := nextEvent(t, ch)
		if e.Type != "NodeEligibility" || e.Index != ineligible || n.SchedulingEligibility != api.NodeSchedulingIneligible {
			t.Errorf("eligibility event %s at %d: %+v", e.Type, e.Index, n)
		}
		e, n = nextEvent(t, ch)
		if e.Type != "NodeStreamEvent" || e.Index != down || n.Status != api.NodeStatusDown || n.StatusDescription != "node heartbeat missed" {
			t.Errorf("status event %s at %d: %+v", e.Type, e.Index, n)
		}
	}
	noEvent(t, onlyName) // the drain of the other node was not for it

	// A stream opened later from an earlier index gets what was published
	// since, as from Nomad's event buffer.
	late := follow(t, c, ineligible, "*")
	for _, want := range []uint64{ineligible, down} {
		if e, _ := nextEvent(t, late); e.Index != want {
			t.Errorf("replayed event at %d, want %d", e.Index, want)
		}
	}

	undrained := f.UndrainNode(nomadtest.IDMeta)
	added := f.AddNode(nomadtest.NodeMetaFile, nomadtest.SetID("1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"),
		nomadtest.SetMeta("codeint_node_id", "agent-euw1-c"), nomadtest.SetName("ip-10-0-1-99"))
	gone := f.Deregister(nomadtest.IDName)
	for _, ch := range []<-chan *api.Events{all, late} {
		e, n := nextEvent(t, ch)
		if e.Type != "NodeDrain" || e.Index != undrained || n.DrainStrategy != nil || n.Drain || n.SchedulingEligibility != api.NodeSchedulingEligible {
			t.Errorf("undrain event %s at %d: %+v", e.Type, e.Index, n)
		}
		e, n = nextEvent(t, ch)
		if e.Type != "NodeRegistration" || e.Key != added || n.Meta["codeint_node_id"] != "agent-euw1-c" || n.Name != "ip-10-0-1-99" ||
			n.CreateIndex != e.Index || n.ModifyIndex != e.Index {
			t.Errorf("registration event %s at %d: %+v", e.Type, e.Index, n)
		}
		e, n = nextEvent(t, ch)
		if e.Type != "NodeDeregistration" || e.Index != gone || n.ID != nomadtest.IDName {
			t.Errorf("deregistration event %s at %d: %+v", e.Type, e.Index, n)
		}
	}
	if e, _ := nextEvent(t, onlyName); e.Index != gone {
		t.Errorf("the node's own stream: event at %d, want its deregistration at %d", e.Index, gone)
	}
	stubs, _, err := c.Nodes().List(query())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range stubs {
		ids = append(ids, s.ID)
	}
	if want := []string{added, nomadtest.IDMeta}; !slices.Equal(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
}

func TestSentFramesAndBrokenStream(t *testing.T) {
	f := nomadtest.New(t, nomadtest.Region, nomadtest.NodeMetaFile)
	c := f.Client()
	ch := follow(t, c, f.Index()+1, "*")
	s := f.NextStream(t)
	frame := f.Change(nomadtest.IDMeta, "NodeDrain", nomadtest.Drain)
	noEvent(t, ch) // Change sends nothing
	s.Heartbeat(t)
	s.Send(t, frame)
	if e, n := nextEvent(t, ch); e.Index != f.Index() || n.DrainStrategy == nil {
		t.Errorf("sent event at %d: %+v", e.Index, n)
	}
	s.Break()
	select {
	case evs := <-ch:
		if evs == nil || evs.Err == nil {
			t.Errorf("after Break: %+v, want an error", evs)
		}
	case <-time.After(nomadtest.Wait):
		t.Fatal("the client saw no error after Break")
	}
	select {
	case <-s.Done():
	case <-time.After(nomadtest.Wait):
		t.Fatal("the stream did not end")
	}
	if n := len(f.OpenStreams()); n != 0 {
		t.Errorf("%d open streams after Break", n)
	}
}

func TestInjectedFailures(t *testing.T) {
	f := nomadtest.New(t, nomadtest.Region, nomadtest.NodeMetaFile)
	c := f.Client()
	f.FailLists(http.StatusInternalServerError)
	if _, _, err := c.Nodes().List(query()); err == nil || !strings.Contains(err.Error(), "No cluster leader") {
		t.Errorf("failed list: %v", err)
	}
	ran := false
	f.OnNextList(func() { ran = true })
	if _, _, err := c.Nodes().List(query()); err != nil || !ran {
		t.Errorf("list: %v, OnNextList ran: %v", err, ran)
	}
	f.RefuseStreams(http.StatusForbidden)
	if _, err := c.EventStream().Stream(t.Context(), map[api.Topic][]string{api.TopicNode: {"*"}}, 1, query()); err == nil {
		t.Error("a refused stream opened")
	}
	if got := len(f.RequestsTo(http.MethodGet, "/v1/nodes")); got != 2 {
		t.Errorf("%d lists recorded, want 2", got)
	}
}

// errorsTB records the errors the fake reports instead of failing.
type errorsTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

func (e *errorsTB) errors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

func TestRefusesWrongRegionAndMisuse(t *testing.T) {
	tb := &errorsTB{TB: t}
	f := nomadtest.New(tb, nomadtest.Region, nomadtest.NodeMetaFile)
	_, _, err := f.Client().Nodes().List(&api.QueryOptions{Region: "us-east"})
	if err == nil || !strings.Contains(err.Error(), "No path to region") {
		t.Errorf("list in another region: %v", err)
	}
	if errs := tb.errors(); len(errs) != 1 || !strings.Contains(errs[0], `region "us-east", want "eu-west"`) {
		t.Errorf("reported %q", errs)
	}
	f.AddNode(nomadtest.NodeMetaFile) // its id is taken
	if f.DrainNode("no-such-node") != 0 || f.Change("no-such-node", "NodeDrain") != nil {
		t.Error("a change of an unknown node returned an event")
	}
	if errs := tb.errors(); len(errs) != 4 {
		t.Errorf("reported %q, want the taken id and two unknown nodes too", errs)
	}
}

func TestScaleEndpoints(t *testing.T) {
	f := nomadtest.New(t, nomadtest.Region)
	c := f.Client()
	st, _, err := c.Jobs().ScaleStatus(nomadtest.Job, query())
	if err != nil {
		t.Fatal(err)
	}
	if g := st.TaskGroups[nomadtest.Group]; st.JobID != nomadtest.Job || g.Desired != nomadtest.DefaultDesired || st.JobStopped {
		t.Errorf("status %+v", st)
	}
	count := 5
	w := &api.WriteOptions{Region: nomadtest.Region}
	if _, _, err := c.Jobs().Scale(nomadtest.Job, nomadtest.Group, &count, "more", false, map[string]any{"k": "v"}, w); err != nil {
		t.Fatal(err)
	}
	if f.Desired() != 5 {
		t.Errorf("desired %d after scaling to 5", f.Desired())
	}
	if _, _, err := c.Jobs().Scale(nomadtest.Job, "other", &count, "more", false, nil, w); err == nil {
		t.Error("a scale of an unknown group succeeded")
	}
	if _, _, err := c.Jobs().ScaleStatus("other", query()); err == nil {
		t.Error("the status of an unknown job was read")
	}
	scales := f.Scales()
	if len(scales) != 2 || scales[0].Job != nomadtest.Job || *scales[0].Body.Count != 5 || scales[0].Body.Message != "more" ||
		scales[0].Body.Meta["k"] != "v" || scales[0].Region != nomadtest.Region || scales[1].Body.Target["Group"] != "other" {
		t.Errorf("scales %+v", scales)
	}
	f.SetJobStopped(true)
	f.SetDesired(2)
	if st, _, err := c.Jobs().ScaleStatus(nomadtest.Job, query()); err != nil || !st.JobStopped || st.TaskGroups[nomadtest.Group].Desired != 2 {
		t.Errorf("status %+v, %v", st, err)
	}
	f.FailScaleStatus(&nomadtest.Failure{Status: http.StatusForbidden, Body: "Permission denied"})
	if _, _, err := c.Jobs().ScaleStatus(nomadtest.Job, query()); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("failed status: %v", err)
	}
	f.FailScales(&nomadtest.Failure{Status: http.StatusInternalServerError, Body: "No cluster leader"})
	if _, _, err := c.Jobs().Scale(nomadtest.Job, nomadtest.Group, &count, "more", false, nil, w); err == nil {
		t.Error("a failed scale succeeded")
	}
	if n := len(f.Scales()); n != 3 {
		t.Errorf("%d scales recorded, want 3 (a failed one too)", n)
	}
}
