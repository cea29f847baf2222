package consultest_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/consul/consultest"
	"github.com/hashicorp/consul/api"
)

// The fake is exercised through the official api client, so its answers
// are checked against the shapes the client decodes.

func newAPI(t *testing.T, s *consultest.Server) *api.Client {
	t.Helper()
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	c, err := api.NewClient(&api.Config{Address: s.HostPort()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustRegister(t *testing.T, c *api.Client, reg *api.AgentServiceRegistration) {
	t.Helper()
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("register %s: %v", reg.ID, err)
	}
}

// endpoint answers every request with code.
func endpoint(t *testing.T, code int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// statuses maps service id to aggregated status in a health query.
func statuses(t *testing.T, c *api.Client, name string, passingOnly bool) map[string]string {
	t.Helper()
	entries, meta, err := c.Health().Service(name, "", passingOnly, nil)
	if err != nil {
		t.Fatalf("health %s: %v", name, err)
	}
	if meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("query meta = %+v, want an index and a known leader", meta)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Node.Node != consultest.NodeName || e.Node.Datacenter != consultest.Datacenter {
			t.Errorf("entry node = %+v", e.Node)
		}
		out[e.Service.ID] = e.Checks.AggregatedStatus()
	}
	return out
}

func TestHealthStatuses(t *testing.T) {
	s := consultest.New(t)
	c := newAPI(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, reg := range []*api.AgentServiceRegistration{
		{ID: "ok", Name: "web", Check: &api.AgentServiceCheck{HTTP: endpoint(t, 204), Interval: "5s"}},
		{ID: "busy", Name: "web", Check: &api.AgentServiceCheck{HTTP: endpoint(t, 429), Interval: "5s"}},
		{ID: "down", Name: "web", Check: &api.AgentServiceCheck{HTTP: endpoint(t, 503), Interval: "5s"}},
		{ID: "tcp-up", Name: "web", Check: &api.AgentServiceCheck{TCP: ln.Addr().String(), Interval: "5s"}},
		{ID: "tcp-down", Name: "web", Check: &api.AgentServiceCheck{TCP: closedAddr, Interval: "5s"}},
		{ID: "ttl-new", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s"}},
		{ID: "ttl-set", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s", Status: "passing"}},
		{ID: "bare", Name: "web"},
		{ID: "other", Name: "db"},
	} {
		mustRegister(t, c, reg)
	}
	want := map[string]string{
		"ok": "passing", "busy": "warning", "down": "critical",
		"tcp-up": "passing", "tcp-down": "critical",
		"ttl-new": "critical", "ttl-set": "passing", "bare": "passing",
	}
	if got := statuses(t, c, "web", false); !reflect.DeepEqual(got, want) {
		t.Errorf("all: %v\nwant %v", got, want)
	}
	for id, st := range want {
		if st != "passing" {
			delete(want, id)
		}
	}
	if got := statuses(t, c, "web", true); !reflect.DeepEqual(got, want) {
		t.Errorf("passing: %v\nwant %v", got, want)
	}
}

func TestHealthEntryShape(t *testing.T) {
	s := consultest.New(t)
	c := newAPI(t, s)
	url := endpoint(t, 200)
	mustRegister(t, c, &api.AgentServiceRegistration{
		ID: "w1", Name: "web", Tags: []string{"region=r1", "v2"}, Port: 80,
		Meta:  map[string]string{"k": "v"},
		Check: &api.AgentServiceCheck{HTTP: url, Interval: "5s", DeregisterCriticalServiceAfter: "2m"},
	})
	entries, _, err := c.Health().ServiceMultipleTags("web", []string{"REGION=r1", "v2"}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(entries))
	}
	e := entries[0]
	if e.Service.ID != "w1" || e.Service.Service != "web" || e.Service.Port != 80 || e.Service.Meta["k"] != "v" ||
		e.Service.Weights != (api.AgentWeights{Passing: 1, Warning: 1}) {
		t.Errorf("service = %+v", e.Service)
	}
	if len(e.Checks) != 2 || e.Checks[0].CheckID != "serfHealth" {
		t.Fatalf("checks = %+v, want serfHealth and the service check", e.Checks)
	}
	sc := e.Checks[1]
	if sc.CheckID != "service:w1" || sc.Name != "Service 'web' check" || sc.ServiceID != "w1" || sc.Type != "http" ||
		sc.Definition.HTTP != url || sc.Definition.IntervalDuration != 5*time.Second ||
		sc.Definition.DeregisterCriticalServiceAfterDuration != 2*time.Minute ||
		!strings.Contains(sc.Output, "200 OK") {
		t.Errorf("service check = %+v", sc)
	}
	for _, tags := range [][]string{{"region=r2"}, {"region=r1", "v3"}} {
		entries, _, err := c.Health().ServiceMultipleTags("web", tags, false, nil)
		if err != nil || len(entries) != 0 {
			t.Errorf("tags %v: %d entries, err %v; want none", tags, len(entries), err)
		}
	}
}

func TestCatalogServices(t *testing.T) {
	s := consultest.New(t)
	c := newAPI(t, s)
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w1", Name: "web", Tags: []string{"region=r1"}})
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w2", Name: "web", Tags: []string{"region=r2", "region=r1"},
		Check: &api.AgentServiceCheck{HTTP: endpoint(t, 500), Interval: "5s"}})
	mustRegister(t, c, &api.AgentServiceRegistration{Name: "db"})
	got, _, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"consul": {}, "web": {"region=r1", "region=r2"}, "db": {}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("catalog = %v, want %v", got, want)
	}
	if ids := s.ServiceIDs(); !slices.Equal(ids, []string{"db", "w1", "w2"}) {
		t.Errorf("ids = %v, want [db w1 w2] (the id defaults to the name)", ids)
	}
}

func TestReRegisterChecks(t *testing.T) {
	s := consultest.New(t)
	c := newAPI(t, s)
	ttl := func(id string) *api.AgentServiceCheck {
		return &api.AgentServiceCheck{CheckID: id, TTL: "30s", Status: "passing"}
	}
	checkIDs := func() []string {
		entries, _, err := c.Health().Service("web", "", false, nil)
		if err != nil || len(entries) != 1 {
			t.Fatalf("health: %d entries, %v", len(entries), err)
		}
		var ids []string
		for _, ch := range entries[0].Checks {
			ids = append(ids, ch.CheckID)
		}
		return ids
	}
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w1", Name: "web", Check: ttl("a")})
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w1", Name: "web", Check: ttl("b")})
	if got := checkIDs(); !slices.Equal(got, []string{"serfHealth", "b", "a"}) {
		t.Errorf("without replace-existing-checks: %v, want serfHealth b a", got)
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}
	if err := c.Agent().ServiceRegisterOpts(&api.AgentServiceRegistration{ID: "w1", Name: "web", Check: ttl("c")}, opts); err != nil {
		t.Fatal(err)
	}
	if got := checkIDs(); !slices.Equal(got, []string{"serfHealth", "c"}) {
		t.Errorf("with replace-existing-checks: %v, want serfHealth c", got)
	}
}

func TestReapsCriticalService(t *testing.T) {
	s := consultest.New(t)
	c := newAPI(t, s)
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w1", Name: "web",
		Check: &api.AgentServiceCheck{HTTP: endpoint(t, 500), Interval: "5s", DeregisterCriticalServiceAfter: "50ms"}})
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w2", Name: "web",
		Check: &api.AgentServiceCheck{HTTP: endpoint(t, 500), Interval: "5s"}})
	deadline := time.Now().Add(5 * time.Second)
	for slices.Contains(s.ServiceIDs(), "w1") {
		if time.Now().After(deadline) {
			t.Fatal("w1 critical for 5s and still registered")
		}
		statuses(t, c, "web", false)
		time.Sleep(10 * time.Millisecond)
	}
	if got := statuses(t, c, "web", false); !reflect.DeepEqual(got, map[string]string{"w2": "critical"}) {
		t.Errorf("after reaping: %v, want only w2 (no DeregisterCriticalServiceAfter), critical", got)
	}
}

func TestRecordsRequests(t *testing.T) {
	s := consultest.New(t)
	c := newAPI(t, s)
	mustRegister(t, c, &api.AgentServiceRegistration{ID: "w1", Name: "web", Tags: []string{"t"}})
	if err := c.Agent().ServiceDeregister("w1"); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if r := reqs[0]; r.Method != http.MethodPut || r.Path != "/v1/agent/service/register" || !strings.Contains(string(r.Body), `"Tags":["t"]`) {
		t.Errorf("first request = %s %s %s", r.Method, r.Path, r.Body)
	}
	if r := reqs[1]; r.Method != http.MethodPut || r.Path != "/v1/agent/service/deregister/w1" {
		t.Errorf("second request = %s %s", r.Method, r.Path)
	}
	if ids := s.ServiceIDs(); len(ids) != 0 {
		t.Errorf("after deregister: %v", ids)
	}
}

func TestRefusals(t *testing.T) {
	s := consultest.New(t)
	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"no name", "PUT", "/v1/agent/service/register", `{"ID":"x"}`, 400, "Missing service name"},
		{"bad json", "PUT", "/v1/agent/service/register", `{`, 400, "Request decode failed"},
		{"http check without interval", "PUT", "/v1/agent/service/register",
			`{"Name":"web","Check":{"HTTP":"http://127.0.0.1:1/"}}`, 400, "Interval must be > 0"},
		{"check without kind", "PUT", "/v1/agent/service/register", `{"Name":"web","Check":{}}`, 400, "TTL must be > 0"},
		{"reserved meta", "PUT", "/v1/agent/service/register", `{"Name":"web","Meta":{"consul-x":"1"}}`, 400, "Invalid Service Meta"},
		{"unknown id", "PUT", "/v1/agent/service/deregister/nope", "", 404, `Unknown service ID "nope"`},
		{"wrong method", "GET", "/v1/agent/service/register", "", 405, ""},
		{"bad passing", "GET", "/v1/health/service/web?passing=maybe", "", 400, "Invalid value for ?passing"},
		{"filter", "GET", "/v1/health/service/web?filter=Service.Port%3D%3D1", "", 400, "?filter is not supported"},
		{"blocking", "GET", "/v1/catalog/services?index=3", "", 400, "?index is not supported"},
		{"other dc", "GET", "/v1/catalog/services?dc=dc9", "", 500, "No path to datacenter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := do(tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, code, msg, tt.code, tt.msg)
			}
		})
	}
	if ids := s.ServiceIDs(); len(ids) != 0 {
		t.Errorf("refused registrations were stored: %v", ids)
	}
}

func TestRequireToken(t *testing.T) {
	s := consultest.New(t)
	s.RequireToken("tok")
	for _, tt := range []struct {
		name   string
		header http.Header
		query  string
		code   int
	}{
		{"anonymous", nil, "", 403},
		{"wrong", http.Header{"X-Consul-Token": {"nope"}}, "", 403},
		{"header", http.Header{"X-Consul-Token": {"tok"}}, "", 200},
		{"bearer", http.Header{"Authorization": {"Bearer tok"}}, "", 200},
		{"query", nil, "?token=tok", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", s.URL()+"/v1/catalog/services"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header
			if req.Header == nil {
				req.Header = http.Header{}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
		})
	}
}
