package nomadtest

import (
	"bytes"
	"embed"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

//go:embed testdata/*.json
var testdata embed.FS

// The testdata files. The node files hold one node each, as GET
// /v1/node/{id} returns it.
const (
	NodeMetaFile    = "node_meta.json"         // IDMeta: meta codeint_node_id AgentMeta
	NodeNameFile    = "node_name.json"         // IDName: no such meta, Name AgentName
	NodeUnnamedFile = "node_unnamed.json"      // IDUnnamed: neither meta nor Name
	StreamDrainFile = "stream_node_drain.json" // what Nomad streams when IDMeta is drained: heartbeats around one NodeDrain
)

// The nodes of testdata, and the job whose scale status it holds.
const (
	IDMeta    = "0b1f4e2c-6c1d-4f0b-9a57-3e2d1c5a7f10"
	IDName    = "5d3a9f61-2b47-4e8e-8c2a-91f0e6b4d223"
	IDUnnamed = "c7e2b5a0-93d4-4b1f-a6e8-0f4d2c9b7e35"
	AgentMeta = "agent-euw1-a"
	AgentName = "agent-euw1-b"
	Region    = "eu-west"       // the Nomad region of the recorded responses
	Job       = "codeint-agent" // the only job the scale endpoints know
	Group     = "agent"         // its only task group
)

// DefaultDesired is the count of Group when the fake starts.
const DefaultDesired = 3

// Wait bounds NextStream and Stream.Send.
const Wait = 5 * time.Second

// The recorded answers of the scale endpoints.
const (
	scaleStatusFile   = "scale_status.json"
	scaleResponseFile = "scale_response.json"
)

// Testdata returns an embedded testdata file; an unknown name fails the
// test.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("nomadtest: %v", err)
	}
	return b
}

// file returns a testdata file the fake itself answers with.
func file(name string) []byte {
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		panic("nomadtest: " + err.Error())
	}
	return b
}

// Request is one HTTP request the fake received.
type Request struct {
	Method, Path string
	Query        url.Values
}

// Server is a fake Nomad. Create it with New.
type Server struct {
	t      testing.TB
	hs     *httptest.Server
	region string
	done   chan struct{} // closed when the test ends: streams stop

	mu           sync.Mutex
	index        uint64                    // Nomad's raft index, bumped by every change
	nodes        map[string]map[string]any // by node id, as Read Node returns them
	requests     []Request
	listErrors   []int  // statuses the next lists fail with, in order
	afterList    func() // run once, after the next list is written
	streamErrors []int  // statuses the next streams are refused with
	streams      []*Stream
	taken        int           // streams NextStream returned
	opened       chan struct{} // closed, and replaced, when a stream opens
	events       []event       // published frames, oldest first

	desired     int
	stopped     bool
	statusError *Failure
	scaleError  *Failure
	scales      []Scale
}

// event is one published frame of the Node topic.
type event struct {
	index uint64
	key   string // the node id
	frame []byte
}

// New starts a fake Nomad for region ("" for a client that names none)
// holding the nodes of the given testdata files (NodeMetaFile, …); its
// index starts at the highest ModifyIndex among them. It shuts down when
// the test ends.
func New(t testing.TB, region string, nodeFiles ...string) *Server {
	t.Helper()
	s := &Server{
		t:       t,
		region:  region,
		done:    make(chan struct{}),
		nodes:   map[string]map[string]any{},
		opened:  make(chan struct{}),
		desired: DefaultDesired,
	}
	for _, name := range nodeFiles {
		n := decodeNode(t, name)
		id, _ := n["ID"].(string)
		if _, dup := s.nodes[id]; dup || id == "" {
			t.Fatalf("nomadtest: testdata/%s: node id %q missing or repeated", name, id)
		}
		s.nodes[id] = n
		s.index = max(s.index, modifyIndex(n))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/nodes", s.listNodes)
	mux.HandleFunc("GET /v1/node/{id}", s.readNode)
	mux.HandleFunc("GET /v1/event/stream", s.stream)
	mux.HandleFunc("GET /v1/job/{job}/scale", s.scaleStatus)
	mux.HandleFunc("PUT /v1/job/{job}/scale", s.scale)
	mux.HandleFunc("POST /v1/job/{job}/scale", s.scale)
	s.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
		s.mu.Unlock()
		if got := r.URL.Query().Get("region"); got != s.region {
			t.Errorf("nomadtest: %s %s: region %q, want %q", r.Method, r.URL.Path, got, s.region)
			http.Error(w, "No path to region", http.StatusInternalServerError)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(s.done)
		s.hs.Close()
	})
	return s
}

// decodeNode reads a node file, keeping numbers as json.Number as Nomad
// wrote them.
func decodeNode(t testing.TB, name string) map[string]any {
	t.Helper()
	var n map[string]any
	dec := json.NewDecoder(bytes.NewReader(Testdata(t, name)))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		t.Fatalf("nomadtest: testdata/%s: %v", name, err)
	}
	return n
}

func modifyIndex(n map[string]any) uint64 {
	switch v := n["ModifyIndex"].(type) {
	case json.Number:
		i, _ := strconv.ParseUint(v.String(), 10, 64)
		return i
	case uint64:
		return v
	}
	return 0
}

// URL returns the fake's address, "http://127.0.0.1:PORT": Nomad's
// NOMAD_ADDR, codeint's --nomad-addr.
func (s *Server) URL() string { return s.hs.URL }

// Region returns the region the fake serves.
func (s *Server) Region() string { return s.region }

// Client returns an api client for the fake.
func (s *Server) Client() *api.Client {
	s.t.Helper()
	c, err := api.NewClient(&api.Config{Address: s.hs.URL, HttpClient: s.hs.Client()})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Index returns Nomad's raft index.
func (s *Server) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// Node returns a copy of node id as GET /v1/node/{id} answers it; ok is
// false when the fake has no such node.
func (s *Server) Node(id string) (n map[string]any, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.nodes[id]
	if cur == nil {
		return nil, false
	}
	b, err := json.Marshal(cur)
	if err != nil {
		s.t.Errorf("nomadtest: encode node %s: %v", id, err)
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&n)
	return n, true
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Path: r.Path, Query: maps.Clone(r.Query)}
	}
	return out
}

// RequestsTo returns the requests received for method and path.
func (s *Server) RequestsTo(method, path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// OnNextList runs fn once, after the next node list is written and
// before the client reads it. fn runs on the request's goroutine.
func (s *Server) OnNextList(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterList = fn
}

// FailLists makes the next node lists fail with these statuses, in order.
func (s *Server) FailLists(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listErrors = append(s.listErrors, statuses...)
}

// RefuseStreams makes the next event streams fail with these statuses,
// in order.
func (s *Server) RefuseStreams(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamErrors = append(s.streamErrors, statuses...)
}

// writeHeaders sets the headers of Nomad's blocking-query responses.
func writeHeaders(w http.ResponseWriter, index uint64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(index, 10))
	w.Header().Set("X-Nomad-KnownLeader", "true")
	w.Header().Set("X-Nomad-LastContact", "0")
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	writeHeaders(w, s.Index())
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.t.Errorf("nomadtest: encode: %v", err)
	}
}

// listNodes answers GET /v1/nodes with Nomad's NodeListStub of each node,
// sorted by id.
func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if len(s.listErrors) > 0 {
		status := s.listErrors[0]
		s.listErrors = s.listErrors[1:]
		s.mu.Unlock()
		http.Error(w, "rpc error: No cluster leader", status)
		return
	}
	ids := slices.Sorted(maps.Keys(s.nodes))
	stubs := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		stubs = append(stubs, stubOf(s.nodes[id]))
	}
	index := s.index
	after := s.afterList
	s.afterList = nil
	// Encoded under the lock: the nodes' maps change under it.
	body, err := json.Marshal(stubs)
	s.mu.Unlock()
	if err != nil {
		s.t.Errorf("nomadtest: encode node list: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeHeaders(w, index)
	_, _ = w.Write(append(body, '\n'))
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

// readNode answers GET /v1/node/{id}.
func (s *Server) readNode(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.nodes[r.PathValue("id")]
	var body []byte
	var err error
	if n != nil {
		body, err = json.Marshal(n)
	}
	index := s.index
	s.mu.Unlock()
	switch {
	case n == nil:
		http.Error(w, "node not found", http.StatusNotFound)
		return
	case err != nil:
		s.t.Errorf("nomadtest: encode node: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeHeaders(w, index)
	_, _ = w.Write(body)
}
