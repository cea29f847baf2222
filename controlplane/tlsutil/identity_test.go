package tlsutil

import (
	"errors"
	"net/url"
	"testing"
)

func TestIdentityURI(t *testing.T) {
	good := []struct {
		uri string
		id  Identity
	}{
		{"codeint://cl_a/server/r1", Identity{ClusterID: "cl_a", Role: RoleServer, Region: "r1"}},
		{"codeint://cl_a/agent/eu-west.1/node-7", Identity{ClusterID: "cl_a", Role: RoleAgent, Region: "eu-west.1", Name: "node-7"}},
		{"codeint://cl_a/client/", Identity{ClusterID: "cl_a", Role: RoleClient}},
		{"codeint://cl_a/client//ops", Identity{ClusterID: "cl_a", Role: RoleClient, Name: "ops"}},
	}
	for _, tc := range good {
		if got := tc.id.String(); got != tc.uri {
			t.Errorf("%+v.String() = %q, want %q", tc.id, got, tc.uri)
		}
		got, err := parseIdentity(mustParseURL(t, tc.uri))
		if err != nil || got != tc.id {
			t.Errorf("parse %q = %+v, %v; want %+v", tc.uri, got, err, tc.id)
		}
	}
	bad := []string{
		"https://cl_a/server/r1",        // another scheme
		"codeint://cl_a/server",         // no region
		"codeint://cl_a/server/",        // a server needs a region
		"codeint://cl_a/admin/r1",       // unknown role
		"codeint://cl_a/server/r1/n/x",  // too many parts
		"codeint://cl_a/server/r1/",     // empty name
		"codeint://cl_a/server/r%2F1",   // escaped slash
		"codeint://cl_a/server/%72%31",  // not canonical
		"codeint://cl_a:99/server/r1",   // port
		"codeint:///server/r1",          // no cluster
		"codeint://cl.a/server/r1",      // dot in the cluster id
		"codeint://cl_a/server/r1?x=1",  // query
		"codeint://u@cl_a/server/r1",    // user
		"codeint://cl_a/server/-r1",     // region starting with '-'
		"codeint://cl_a/server/r1/n1#f", // fragment
	}
	for _, uri := range bad {
		if id, err := parseIdentity(mustParseURL(t, uri)); !errors.Is(err, ErrNoIdentity) {
			t.Errorf("parse %q = %+v, %v; want ErrNoIdentity", uri, id, err)
		}
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAcceptHooks(t *testing.T) {
	srvR1 := Identity{ClusterID: "c", Role: RoleServer, Region: "r1"}
	agentR1 := Identity{ClusterID: "c", Role: RoleAgent, Region: "r1"}
	srvR2 := Identity{ClusterID: "c", Role: RoleServer, Region: "r2"}
	tests := []struct {
		name  string
		hook  func(Identity) error
		id    Identity
		admit bool
	}{
		{"role admitted", RequireRole(RoleServer, RoleAgent), agentR1, true},
		{"role refused", RequireRole(RoleServer), agentR1, false},
		{"no roles refuses all", RequireRole(), srvR1, false},
		{"region admitted", RequireRegion("r1"), agentR1, true},
		{"region refused", RequireRegion("r1"), srvR2, false},
		{"all admitted", All(RequireRole(RoleServer), RequireRegion("r1")), srvR1, true},
		{"all: region refused", All(RequireRole(RoleServer), RequireRegion("r1")), srvR2, false},
		{"all: role refused", All(RequireRole(RoleServer), RequireRegion("r1")), agentR1, false},
		{"all of none admits", All(), agentR1, true},
		{"server of r1", RequireServerOf("r1"), srvR1, true},
		{"server of r2 is not of r1", RequireServerOf("r1"), srvR2, false},
		{"agent of r1 is not a server", RequireServerOf("r1"), agentR1, false},
	}
	for _, tc := range tests {
		if err := tc.hook(tc.id); (err == nil) != tc.admit {
			t.Errorf("%s: %+v gave %v, want admitted=%v", tc.name, tc.id, err, tc.admit)
		}
	}
}
