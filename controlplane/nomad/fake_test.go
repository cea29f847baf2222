package nomad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// wait bounds every wait of a test on the watcher or the fake.
const wait = 5 * time.Second

// fakeNomad serves the part of Nomad's HTTP API this package uses, with
// the shapes Nomad sends (the bodies come from testdata): the node list
// and node reads, the Node topic of the event stream, and a job's scale
// status and scale writes. Every request must carry the region the fake
// was made for. Create it with newFake; it shuts down with the test.
type fakeNomad struct {
	t      *testing.T
	srv    *httptest.Server
	region string
	done   chan struct{} // closed when the test ends: streams stop

	streams chan *fakeStream // each opened stream, in order

	mu           sync.Mutex
	index        uint64                    // Nomad's raft index, bumped by every change
	nodes        map[string]map[string]any // by node id, as Read Node returns them
	requests     []fakeRequest
	listErrors   []int  // statuses the next lists fail with, in order
	afterList    func() // run once, after the next list is written
	streamErrors []int  // statuses the next streams are refused with

	desired     int          // the scaled group's count
	stopped     bool         // the job is stopped
	statusError *fakeFailure // answer to every scale status read, when set
	scaleError  *fakeFailure // answer to every scale write, when set
	scales      []fakeScale  // the scale writes received
}

// fakeRequest is one request the fake received.
type fakeRequest struct {
	Method, Path string
	Query        url.Values
}

// fakeFailure is an error answer, as Nomad writes them: a status and a
// plain-text body.
type fakeFailure struct {
	Status int
	Body   string
}

// fakeScale is one scale write: the request as Nomad reads it
// (structs.ScalingRequest) and where it was sent.
type fakeScale struct {
	Method string
	Job    string
	Region string
	Body   struct {
		Count          *int64
		Target         map[string]string
		Message        string
		Error          bool
		Meta           map[string]any
		PolicyOverride bool
		JobModifyIndex uint64
	}
}

// fakeStream is one open event stream.
type fakeStream struct {
	Index  uint64 // the index asked for
	Topics []string
	frames chan []byte
	broken chan struct{}
}

// The ids and agent ids of the nodes in testdata.
const (
	idMeta     = "0b1f4e2c-6c1d-4f0b-9a57-3e2d1c5a7f10" // node_meta.json: meta codeint_node_id
	idName     = "5d3a9f61-2b47-4e8e-8c2a-91f0e6b4d223" // node_name.json: known by its Name
	idUnnamed  = "c7e2b5a0-93d4-4b1f-a6e8-0f4d2c9b7e35" // node_unnamed.json: neither, ignored
	agentMeta  = "agent-euw1-a"
	agentName  = "agent-euw1-b"
	testRegion = "eu-west"
	testJob    = "codeint-agent"
	testGroup  = "agent"
)

// newFake starts a fake Nomad for region holding the nodes of the given
// testdata files; its index starts at the highest ModifyIndex among them.
func newFake(t *testing.T, region string, nodeFiles ...string) *fakeNomad {
	t.Helper()
	f := &fakeNomad{
		t:       t,
		region:  region,
		done:    make(chan struct{}),
		streams: make(chan *fakeStream, 16),
		nodes:   map[string]map[string]any{},
		desired: 3,
	}
	for _, name := range nodeFiles {
		var n map[string]any
		dec := json.NewDecoder(bytes.NewReader(readTestdata(t, name)))
		dec.UseNumber()
		if err := dec.Decode(&n); err != nil {
			t.Fatalf("testdata/%s: %v", name, err)
		}
		f.nodes[n["ID"].(string)] = n
		mi, _ := n["ModifyIndex"].(json.Number).Int64()
		f.index = max(f.index, uint64(mi))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/nodes", f.listNodes)
	mux.HandleFunc("GET /v1/node/{id}", f.readNode)
	mux.HandleFunc("GET /v1/event/stream", f.stream)
	mux.HandleFunc("GET /v1/job/{job}/scale", f.scaleStatus)
	mux.HandleFunc("PUT /v1/job/{job}/scale", f.scale)
	mux.HandleFunc("POST /v1/job/{job}/scale", f.scale)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
		f.mu.Unlock()
		if got := r.URL.Query().Get("region"); got != f.region {
			t.Errorf("%s %s: region %q, want %q", r.Method, r.URL.Path, got, f.region)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(f.done)
		f.srv.Close()
	})
	return f
}

// client returns an api client for the fake.
func (f *fakeNomad) client() *api.Client {
	f.t.Helper()
	c, err := api.NewClient(&api.Config{Address: f.srv.URL, HttpClient: f.srv.Client()})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// change applies fn to node id at a new index and returns the event frame
// of type typ Nomad streams for it. The frame is not sent.
func (f *fakeNomad) change(id, typ string, fn func(n map[string]any)) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[id]
	if n == nil {
		f.t.Fatalf("fake: no node %s", id)
	}
	f.index++
	fn(n)
	n["ModifyIndex"] = f.index
	return f.frameLocked(f.index, typ, n)
}

// remove deregisters node id at a new index and returns the
// NodeDeregistration frame. The frame is not sent.
func (f *fakeNomad) remove(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[id]
	delete(f.nodes, id)
	f.index++
	return f.frameLocked(f.index, "NodeDeregistration", n)
}

// frameAt returns a frame of type typ for node id as it is now, at index.
func (f *fakeNomad) frameAt(index uint64, id, typ string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frameLocked(index, typ, f.nodes[id])
}

func (f *fakeNomad) frameLocked(index uint64, typ string, n map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"Index": index,
		"Events": []map[string]any{{
			"Topic": "Node", "Type": typ, "Key": n["ID"], "Namespace": "",
			"FilterKeys": nil, "Index": index, "Payload": map[string]any{"Node": n},
		}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// Mutations of a node, as Nomad makes them.
func drain(n map[string]any) {
	n["Drain"] = true
	n["SchedulingEligibility"] = api.NodeSchedulingIneligible
	n["DrainStrategy"] = map[string]any{
		"Deadline": int64(time.Hour), "IgnoreSystemJobs": false,
		"ForceDeadline": "2026-10-20T10:02:11.403918213Z", "StartedAt": "2026-10-20T09:02:11.403918213Z",
	}
}

func undrain(n map[string]any) {
	n["Drain"] = false
	n["DrainStrategy"] = nil
	n["SchedulingEligibility"] = api.NodeSchedulingEligible
}

func setEligibility(e string) func(map[string]any) {
	return func(n map[string]any) { n["SchedulingEligibility"] = e }
}

func setStatus(s, why string) func(map[string]any) {
	return func(n map[string]any) { n["Status"], n["StatusDescription"] = s, why }
}

// requestsTo returns the requests received for path.
func (f *fakeNomad) requestsTo(method, path string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// currentIndex returns Nomad's raft index.
func (f *fakeNomad) currentIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index
}

// onNextList runs fn once, after the next list is written and before the
// client gets it.
func (f *fakeNomad) onNextList(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterList = fn
}

// failLists makes the next lists fail with these statuses.
func (f *fakeNomad) failLists(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErrors = append(f.listErrors, statuses...)
}

// refuseStreams makes the next streams fail with these statuses.
func (f *fakeNomad) refuseStreams(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streamErrors = append(f.streamErrors, statuses...)
}

// nextStream waits for the next event stream the watcher opens.
func (f *fakeNomad) nextStream(t *testing.T) *fakeStream {
	t.Helper()
	select {
	case s := <-f.streams:
		return s
	case <-time.After(wait):
		t.Fatal("no event stream opened")
		return nil
	}
}

// send streams one frame (a line of ndjson).
func (s *fakeStream) send(t *testing.T, frame []byte) {
	t.Helper()
	select {
	case s.frames <- frame:
	case <-time.After(wait):
		t.Fatal("event stream took no frame")
	}
}

// heartbeat streams the empty frame Nomad sends to keep a stream open.
func (s *fakeStream) heartbeat(t *testing.T) { s.send(t, []byte("{}")) }

// breakConn closes the stream's connection without ending the response.
func (s *fakeStream) breakConn() { close(s.broken) }

// writeHeaders sets the headers of Nomad's blocking-query responses.
func (f *fakeNomad) writeHeaders(w http.ResponseWriter) {
	f.mu.Lock()
	index := f.index
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(index, 10))
	w.Header().Set("X-Nomad-KnownLeader", "true")
	w.Header().Set("X-Nomad-LastContact", "0")
}

func (f *fakeNomad) writeJSON(w http.ResponseWriter, v any) {
	f.writeHeaders(w)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("fake: encode: %v", err)
	}
}

// listNodes answers GET /v1/nodes with Nomad's NodeListStub of each node.
func (f *fakeNomad) listNodes(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if len(f.listErrors) > 0 {
		status := f.listErrors[0]
		f.listErrors = f.listErrors[1:]
		f.mu.Unlock()
		http.Error(w, "rpc error: No cluster leader", status)
		return
	}
	ids := slices.Sorted(maps.Keys(f.nodes))
	stubs := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		stubs = append(stubs, stubOf(f.nodes[id]))
	}
	after := f.afterList
	f.afterList = nil
	f.mu.Unlock()
	f.writeJSON(w, stubs)
	if after != nil {
		after() // the client reads the list once the handler returns
	}
}

// stubOf is what Nomad lists of node n (structs.Node.Stub without the
// optional Attributes and resources).
func stubOf(n map[string]any) map[string]any {
	attrs, _ := n["Attributes"].(map[string]any)
	return map[string]any{
		"Address":               attrs["unique.network.ip-address"],
		"ID":                    n["ID"],
		"Datacenter":            n["Datacenter"],
		"Name":                  n["Name"],
		"NodeClass":             n["NodeClass"],
		"NodePool":              n["NodePool"],
		"Version":               attrs["nomad.version"],
		"Drain":                 n["DrainStrategy"] != nil,
		"SchedulingEligibility": n["SchedulingEligibility"],
		"Status":                n["Status"],
		"StatusDescription":     n["StatusDescription"],
		"Drivers":               n["Drivers"],
		"LastDrain":             n["LastDrain"],
		"CreateIndex":           n["CreateIndex"],
		"ModifyIndex":           n["ModifyIndex"],
	}
}

// readNode answers GET /v1/node/:id.
func (f *fakeNomad) readNode(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := f.nodes[r.PathValue("id")]
	var body []byte
	if n != nil {
		body, _ = json.Marshal(n)
	}
	f.mu.Unlock()
	if n == nil {
		http.Error(w, "node not found", http.StatusNotFound)
		return
	}
	f.writeHeaders(w)
	_, _ = w.Write(body)
}

// stream answers GET /v1/event/stream: it writes the frames the test
// sends, one per line, flushing each, until the client goes, the test
// breaks the connection or ends.
func (f *fakeNomad) stream(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("invalid index: %v", err), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	refuse := 0
	if len(f.streamErrors) > 0 {
		refuse, f.streamErrors = f.streamErrors[0], f.streamErrors[1:]
	}
	f.mu.Unlock()
	if refuse != 0 {
		http.Error(w, "Permission denied", refuse)
		return
	}
	s := &fakeStream{Index: index, Topics: r.URL.Query()["topic"], frames: make(chan []byte), broken: make(chan struct{})}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		f.t.Errorf("fake: flush: %v", err)
		return
	}
	f.streams <- s
	for {
		select {
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		case <-s.broken:
			conn, _, err := rc.Hijack()
			if err != nil {
				f.t.Errorf("fake: hijack: %v", err)
				return
			}
			_ = conn.Close()
			return
		case frame := <-s.frames:
			if _, err := w.Write(append(frame, '\n')); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// scaleStatus answers GET /v1/job/:job/scale with testdata's recorded
// status, carrying the fake's count.
func (f *fakeNomad) scaleStatus(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail, desired, stopped := f.statusError, f.desired, f.stopped
	f.mu.Unlock()
	if fail != nil {
		http.Error(w, fail.Body, fail.Status)
		return
	}
	if r.PathValue("job") != testJob {
		http.Error(w, "job not found", http.StatusNotFound)
		return
	}
	var status map[string]any
	if err := json.Unmarshal(readTestdata(f.t, "scale_status.json"), &status); err != nil {
		f.t.Errorf("testdata/scale_status.json: %v", err)
	}
	status["JobStopped"] = stopped
	status["TaskGroups"].(map[string]any)[testGroup].(map[string]any)["Desired"] = desired
	f.writeJSON(w, status)
}

// scale answers PUT or POST /v1/job/:job/scale as Nomad does: it checks
// the request, sets the count and answers with testdata's recorded reply.
func (f *fakeNomad) scale(w http.ResponseWriter, r *http.Request) {
	var got fakeScale
	got.Method, got.Job, got.Region = r.Method, r.PathValue("job"), r.URL.Query().Get("region")
	if err := json.NewDecoder(r.Body).Decode(&got.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.scales = append(f.scales, got)
	fail := f.scaleError
	f.mu.Unlock()
	switch {
	case fail != nil:
		http.Error(w, fail.Body, fail.Status)
		return
	case got.Job != testJob:
		http.Error(w, "job not found", http.StatusNotFound)
		return
	case got.Body.Target["Group"] != testGroup:
		http.Error(w, "task group does not exist", http.StatusBadRequest)
		return
	case got.Body.Message == "" && !got.Body.Error:
		http.Error(w, "error and message cannot both be empty", http.StatusBadRequest)
		return
	case got.Body.Count != nil && *got.Body.Count < 0:
		http.Error(w, "scaling action count can't be negative", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	if got.Body.Count != nil {
		f.desired = int(*got.Body.Count)
	}
	f.index++
	f.mu.Unlock()
	f.writeHeaders(w)
	_, _ = w.Write(readTestdata(f.t, "scale_response.json"))
}

// scaleWrites returns the scale writes received.
func (f *fakeNomad) scaleWrites() []fakeScale {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.scales)
}
