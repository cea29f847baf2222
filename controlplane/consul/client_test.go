package consul_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/consul"
	"github.com/codeint/codeint/controlplane/consul/consultest"
)

// healthEndpoint is a real HTTP health endpoint whose answer a test sets.
type healthEndpoint struct {
	code atomic.Int32
	srv  *httptest.Server
}

func newHealthEndpoint(t *testing.T) *healthEndpoint {
	t.Helper()
	h := &healthEndpoint{}
	h.code.Store(http.StatusOK)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(h.code.Load()))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *healthEndpoint) URL() string { return h.srv.URL + "/healthz" }

func mustNewClient(t *testing.T, addr string) *consul.Client {
	t.Helper()
	cfg, ok, err := consul.ParseAddr(addr)
	if err != nil || !ok {
		t.Fatalf("ParseAddr(%q) = %v, %v", addr, ok, err)
	}
	c, err := consul.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func server(nodeID, region string, h *healthEndpoint) consul.Service {
	return consul.Service{
		Name:    consul.ServiceServer,
		NodeID:  nodeID,
		Region:  region,
		Address: "127.0.0.1",
		Port:    7000,
		Meta: map[string]string{
			"raft_addr": "127.0.0.1:7001/" + nodeID,
			"rpc_addr":  "127.0.0.1:7002/" + nodeID,
		},
		CheckHTTP:       h.URL(),
		DeregisterAfter: time.Minute,
	}
}

// discovered is what Instances should return for s once registered.
func discovered(s consul.Service) consul.Service {
	s.ID = s.Name + "-" + s.NodeID
	meta := map[string]string{"node_id": s.NodeID, "region": s.Region}
	for k, v := range s.Meta {
		meta[k] = v
	}
	s.Meta = meta
	return s
}

func nodeIDs(ss []consul.Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.NodeID)
	}
	return out
}

func instances(t *testing.T, c *consul.Client, name, region string) []consul.Service {
	t.Helper()
	got, err := c.Instances(context.Background(), name, region)
	if err != nil {
		t.Fatalf("Instances(%s, %q): %v", name, region, err)
	}
	return got
}

func regions(t *testing.T, c *consul.Client, name string) []string {
	t.Helper()
	got, err := c.Regions(context.Background(), name)
	if err != nil {
		t.Fatalf("Regions(%s): %v", name, err)
	}
	return got
}

func TestRegisterAndDiscover(t *testing.T) {
	ctx := context.Background()
	srv := consultest.New(t)
	c := mustNewClient(t, srv.Addr())
	h1, h2, h3 := newHealthEndpoint(t), newHealthEndpoint(t), newHealthEndpoint(t)
	s1, s2, s3 := server("n1", "r1", h1), server("n2", "r1", h2), server("n3", "r2", h3)
	agent := consul.Service{Name: consul.ServiceAgent, NodeID: "a1", Region: "r1", Port: 9000}
	for _, s := range []consul.Service{s3, s2, agent, s1} { // out of order: Instances sorts
		if err := c.Register(ctx, s); err != nil {
			t.Fatalf("Register %s: %v", s.NodeID, err)
		}
	}

	// What reached Consul: the region tag, the meta and the check.
	reg, ok := srv.Registration("codeint-server-n1")
	if !ok {
		t.Fatalf("fake has no codeint-server-n1; has %v", srv.ServiceIDs())
	}
	if !slices.Equal(reg.Tags, []string{"region=r1"}) {
		t.Errorf("tags = %q, want [region=r1]", reg.Tags)
	}
	if want := discovered(s1).Meta; !reflect.DeepEqual(reg.Meta, want) {
		t.Errorf("meta = %v, want %v", reg.Meta, want)
	}
	if reg.Check == nil || reg.Check.HTTP != h1.URL() || reg.Check.Interval != "5s" || reg.Check.DeregisterCriticalServiceAfter != "1m0s" {
		t.Errorf("check = %+v, want HTTP %s every 5s, deregister after 1m0s", reg.Check, h1.URL())
	}

	got := instances(t, c, consul.ServiceServer, "r1")
	if want := []consul.Service{discovered(s1), discovered(s2)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Instances(r1) =\n%+v\nwant\n%+v", got, want)
	}
	if got := nodeIDs(instances(t, c, consul.ServiceServer, "")); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Errorf("Instances(all regions) = %v, want [n1 n2 n3]", got)
	}
	// An instance without a check counts as passing.
	agentWant := discovered(agent)
	agentWant.Address = consultest.NodeAddress // none given: the Consul node's
	if got := instances(t, c, consul.ServiceAgent, "r1"); !reflect.DeepEqual(got, []consul.Service{agentWant}) {
		t.Errorf("Instances(agent, r1) = %+v, want %+v", got, agentWant)
	}

	h1.code.Store(http.StatusInternalServerError)
	if got := nodeIDs(instances(t, c, consul.ServiceServer, "r1")); !slices.Equal(got, []string{"n2"}) {
		t.Errorf("with n1 failing its check: Instances(r1) = %v, want [n2]", got)
	}
	h1.code.Store(http.StatusOK)
	if got := nodeIDs(instances(t, c, consul.ServiceServer, "r1")); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Errorf("with n1 healthy again: Instances(r1) = %v, want [n1 n2]", got)
	}

	if err := c.Deregister(ctx, "codeint-server-n2"); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if got := nodeIDs(instances(t, c, consul.ServiceServer, "r1")); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("after deregistering n2: Instances(r1) = %v, want [n1]", got)
	}

	if got := regions(t, c, consul.ServiceServer); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("Regions = %v, want [r1 r2]", got)
	}
	h3.srv.Close() // r2's only server stops answering
	if got := regions(t, c, consul.ServiceServer); !slices.Equal(got, []string{"r1"}) {
		t.Errorf("with n3's endpoint closed: Regions = %v, want [r1]", got)
	}
	if got := regions(t, c, consul.ServiceAgent); !slices.Equal(got, []string{"r1"}) {
		t.Errorf("Regions(agent) = %v, want [r1]", got)
	}
}

func TestReRegisterUpdates(t *testing.T) {
	ctx := context.Background()
	srv := consultest.New(t)
	c := mustNewClient(t, srv.Addr())
	s := server("n1", "r1", newHealthEndpoint(t))
	if err := c.Register(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Meta = map[string]string{"raft_addr": "10.0.0.9:7001"}
	s.Port = 7100
	if err := c.Register(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := instances(t, c, consul.ServiceServer, "r1")
	if want := []consul.Service{discovered(s)}; !reflect.DeepEqual(got, want) {
		t.Errorf("after re-registering: %+v, want %+v", got, want)
	}
}

func TestInstancesMatchesRegionExactly(t *testing.T) {
	ctx := context.Background()
	srv := consultest.New(t)
	c := mustNewClient(t, srv.Addr())
	for _, s := range []consul.Service{
		{Name: consul.ServiceServer, NodeID: "lower", Region: "eu"},
		{Name: consul.ServiceServer, NodeID: "upper", Region: "EU"},
	} {
		if err := c.Register(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Consul's tag filter ignores case; regions do not.
	if got := nodeIDs(instances(t, c, consul.ServiceServer, "eu")); !slices.Equal(got, []string{"lower"}) {
		t.Errorf("Instances(eu) = %v, want [lower]", got)
	}
	if got := regions(t, c, consul.ServiceServer); !slices.Equal(got, []string{"EU", "eu"}) {
		t.Errorf("Regions = %v, want [EU eu]", got)
	}
}

func TestDeregisterUnknown(t *testing.T) {
	c := mustNewClient(t, consultest.New(t).Addr())
	err := c.Deregister(context.Background(), "codeint-server-nope")
	if !errors.Is(err, consul.ErrUnknownService) {
		t.Fatalf("err = %v, want ErrUnknownService", err)
	}
}

func TestRegisterRejectsInvalid(t *testing.T) {
	srv := consultest.New(t)
	c := mustNewClient(t, srv.Addr())
	ok := consul.Service{Name: consul.ServiceServer, NodeID: "n1", Region: "r1"}
	tests := map[string]func(*consul.Service){
		"no name":        func(s *consul.Service) { s.Name = "" },
		"no node id":     func(s *consul.Service) { s.NodeID = "" },
		"no region":      func(s *consul.Service) { s.Region = "" },
		"bad port":       func(s *consul.Service) { s.Port = 70000 },
		"meta node_id":   func(s *consul.Service) { s.Meta = map[string]string{"node_id": "other"} },
		"check scheme":   func(s *consul.Service) { s.CheckHTTP = "tcp://127.0.0.1:1" },
		"negative reap":  func(s *consul.Service) { s.DeregisterAfter = -time.Second },
		"region w comma": func(s *consul.Service) { s.Region = "r1,r2" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s := ok
			mutate(&s)
			if err := c.Register(context.Background(), s); !errors.Is(err, consul.ErrInvalidService) {
				t.Fatalf("err = %v, want ErrInvalidService", err)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("invalid services reached Consul: %d requests", n)
	}
}

func TestRegisterRejectedByConsul(t *testing.T) {
	c := mustNewClient(t, consultest.New(t).Addr())
	s := consul.Service{Name: consul.ServiceServer, NodeID: "n1", Region: "r1",
		Meta: map[string]string{"raft addr": "x"}} // Consul allows only [A-Za-z0-9_-] in keys
	err := c.Register(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "Invalid Service Meta") {
		t.Fatalf("err = %v, want Consul's Invalid Service Meta", err)
	}
}

func TestTokenAndDatacenter(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	ctx := context.Background()
	srv := consultest.New(t)
	srv.RequireToken("s3cret")
	s := consul.Service{Name: consul.ServiceServer, NodeID: "n1", Region: "r1"}

	anon := mustNewClient(t, srv.Addr())
	if err := anon.Register(ctx, s); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Register without token: err = %v, want 403", err)
	}

	c := mustNewClient(t, srv.Addr()+"?token=s3cret&dc="+consultest.Datacenter)
	if err := c.Register(ctx, s); err != nil {
		t.Fatalf("Register with token: %v", err)
	}
	if got := nodeIDs(instances(t, c, consul.ServiceServer, "r1")); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("Instances = %v, want [n1]", got)
	}
	for _, r := range srv.Requests()[1:] { // the first was the anonymous one
		if tok, dc := r.Header.Get("X-Consul-Token"), r.Query.Get("dc"); tok != "s3cret" || dc != consultest.Datacenter {
			t.Errorf("%s %s: token %q, dc %q; want s3cret, %s", r.Method, r.Path, tok, dc, consultest.Datacenter)
		}
	}

	other := mustNewClient(t, srv.Addr()+"?token=s3cret&dc=elsewhere")
	if _, err := other.Instances(ctx, consul.ServiceServer, "r1"); err == nil {
		t.Error("Instances in an unknown datacenter: want an error")
	}
}
