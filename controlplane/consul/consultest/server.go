package consultest

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fake agent's identity, as it appears in health results.
const (
	Datacenter  = "dc1"
	NodeName    = "consultest"
	NodeID      = "5f1d0a3e-7c1b-4a53-9d0e-00000000c0de"
	NodeAddress = "127.0.0.1"
)

// CheckTimeout is the longest the fake waits for one health check while
// answering a health query.
const CheckTimeout = time.Second

// Request is one HTTP request the fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Server is a fake Consul agent. Create it with New.
type Server struct {
	hs *httptest.Server

	mu        sync.Mutex
	index     uint64               // Consul's raft index, bumped on every write
	instances map[string]*instance // by service id
	requests  []Request
	token     string // required ACL token; "" allows anonymous requests
}

// instance is one registered service instance with its checks.
type instance struct {
	reg         Registration // the body as sent
	svc         nodeService
	checks      []*check
	createIndex uint64
}

// check is one registered check and what the fake last saw of it. The
// fields down to deregAfter are fixed at registration; the rest are
// guarded by Server.mu.
type check struct {
	def        CheckDefinition
	id, name   string
	kind       string // "http", "tcp", "ttl", "script", "grpc"
	interval   time.Duration
	timeout    time.Duration
	deregAfter time.Duration

	status        string
	output        string
	criticalSince time.Time
	createIndex   uint64
	modifyIndex   uint64
}

// New starts a fake Consul agent on 127.0.0.1 and stops it when the test
// ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{index: 1, instances: map[string]*instance{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/agent/service/register", s.register)
	mux.HandleFunc("PUT /v1/agent/service/deregister/{id}", s.deregister)
	mux.HandleFunc("GET /v1/health/service/{service}", s.healthService)
	mux.HandleFunc("GET /v1/catalog/services", s.catalogServices)
	s.hs = httptest.NewServer(s.record(s.authorize(mux)))
	t.Cleanup(s.hs.Close)
	return s
}

// Addr returns the fake's address as codeint takes it on the command line:
// "consul://127.0.0.1:PORT".
func (s *Server) Addr() string { return "consul://" + s.HostPort() }

// HostPort returns the fake's "127.0.0.1:PORT".
func (s *Server) HostPort() string { return strings.TrimPrefix(s.hs.URL, "http://") }

// URL returns the fake's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.hs.URL }

// RequireToken makes every later request need the ACL token tok; "" lets
// anonymous requests through again.
func (s *Server) RequireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// Requests returns a copy of the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{
			Method: r.Method,
			Path:   r.Path,
			Query:  maps.Clone(r.Query),
			Header: r.Header.Clone(),
			Body:   bytes.Clone(r.Body),
		}
	}
	return out
}

// Registration returns the registration body stored under service id, as
// the client sent it.
func (s *Server) Registration(id string) (Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if !ok {
		return Registration{}, false
	}
	reg := in.reg
	reg.Tags = slices.Clone(reg.Tags)
	reg.Meta = maps.Clone(reg.Meta)
	if reg.Check != nil {
		c := *reg.Check
		reg.Check = &c
	}
	return reg, true
}

// ServiceIDs returns the ids of the registered instances, sorted.
func (s *Server) ServiceIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.instances))
}

// record keeps a copy of every request before handling it.
func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "Request decode failed: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method,
			Path:   r.URL.Path,
			Query:  r.URL.Query(),
			Header: r.Header.Clone(),
			Body:   body,
		})
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// authorize enforces RequireToken and refuses query features the fake
// does not model.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := unsupportedParam(r.URL.Query()); p != "" {
			http.Error(w, "consultest: query parameter ?"+p+" is not supported by the fake", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		want := s.token
		s.mu.Unlock()
		if want == "" {
			next.ServeHTTP(w, r)
			return
		}
		switch got := requestToken(r); {
		case got == "":
			http.Error(w, "Permission denied: anonymous token lacks permission", http.StatusForbidden)
		case got != want:
			http.Error(w, "ACL not found", http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// unsupportedParam returns the first parameter of q that changes a
// query's meaning in a way the fake does not model (answering as if it
// were absent would mislead a test), or "".
func unsupportedParam(q url.Values) string {
	for _, p := range slices.Sorted(maps.Keys(q)) {
		switch p {
		case "index", "hash", "filter", "near", "peer", "ns", "partition", "sameness-group", "cached", "merge-central-config":
			return p
		}
	}
	return ""
}

// requestToken finds the ACL token where Consul looks for it.
func requestToken(r *http.Request) string {
	if tok := r.Header.Get("X-Consul-Token"); tok != "" {
		return tok
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("token")
}
