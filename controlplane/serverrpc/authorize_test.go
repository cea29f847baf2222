package serverrpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/tlsutil"
)

// The region the Authorizer under test serves, and another one.
const (
	home  = "r1"
	other = "r2"
)

// certs makes a CA and loads a bundle per name: "server", "agent",
// "client" of region r1, the same roles of r2, and a client without a
// region.
func certs(t *testing.T) map[string]*tlsutil.Bundle {
	t.Helper()
	ca := t.TempDir()
	if _, _, _, err := tlsutil.CreateCA(ca, "cl_authz", 0); err != nil {
		t.Fatal(err)
	}
	load := func(role tlsutil.Role, region, name string) *tlsutil.Bundle {
		f, err := tlsutil.CreateCert(tlsutil.CertRequest{CADir: ca, OutDir: t.TempDir(), Role: role, Region: region, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		b, err := tlsutil.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string]*tlsutil.Bundle{
		"server-r1":   load(tlsutil.RoleServer, home, "s1"),
		"server-r2":   load(tlsutil.RoleServer, other, "s2"),
		"agent-r1":    load(tlsutil.RoleAgent, home, "n1"),
		"agent-r2":    load(tlsutil.RoleAgent, other, "n2"),
		"client":      load(tlsutil.RoleClient, "", "ops"),
		"client-r2":   load(tlsutil.RoleClient, other, "ops2"),
		"listener-r1": load(tlsutil.RoleServer, home, "listener"),
	}
}

// handshake runs a real TLS handshake between a listener presenting
// srv and a dialer presenting cli, and returns what the listener saw.
func handshake(t *testing.T, srv, cli *tlsutil.Bundle) tls.ConnectionState {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := tls.Server(a, srv.ServerConfig(nil, nil))
	c := tls.Client(b, cli.ClientConfig(nil, nil))
	errc := make(chan error, 1)
	go func() { errc <- c.Handshake() }()
	if err := s.Handshake(); err != nil {
		t.Fatalf("listener handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("dialer handshake: %v", err)
	}
	return s.ConnectionState()
}

// withPeer is a context as gRPC gives a handler: the peer and its TLS
// state.
func withPeer(cs tls.ConnectionState) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, AuthInfo: credentials.TLSInfo{State: cs}})
}

// TestAuthorizerMatrix checks every method of the service against every
// kind of caller, from the state of real handshakes: which roles may call
// what, and that callers of another region reach only federation's
// methods (and Status), except operators' client certificates.
func TestAuthorizerMatrix(t *testing.T) {
	bundles := certs(t)
	all := []string{"server-r1", "server-r2", "agent-r1", "agent-r2", "client", "client-r2"}
	allowed := map[string][]string{
		"Apply":           {"server-r1"},
		"ReadIndex":       {"server-r1"},
		"Join":            {"server-r1"},
		"Status":          all,
		"Heartbeat":       {"server-r1", "agent-r1"},
		"ListPeers":       {"server-r1", "client", "client-r2"},
		"RemovePeer":      {"server-r1", "client", "client-r2"},
		"SnapshotSave":    {"server-r1", "client", "client-r2"},
		"SnapshotRestore": {"server-r1", "client", "client-r2"},
		"ListGlobal":      {"server-r1", "server-r2"},
		"ApplyGlobal":     {"server-r1", "server-r2"},
		"GetSandbox":      {"server-r1", "server-r2"},
		"SandboxOp":       {"server-r1", "server-r2"},
		"CreateSandbox":   {"server-r1", "server-r2"},
		"ShipUsage":       {"server-r1", "agent-r1"},
		"ReportUsage":     {"server-r1", "server-r2"},
		// A method added later is the servers' own until someone says
		// otherwise.
		"SomethingNew": {"server-r1"},
	}
	// Every method the service offers is in the table.
	for _, m := range serverpb.Server_ServiceDesc.Methods {
		if _, ok := allowed[m.MethodName]; !ok {
			t.Errorf("method %s is missing from the matrix", m.MethodName)
		}
	}
	for _, s := range serverpb.Server_ServiceDesc.Streams {
		if _, ok := allowed[s.StreamName]; !ok {
			t.Errorf("stream %s is missing from the matrix", s.StreamName)
		}
	}

	ctxs := map[string]context.Context{}
	for _, who := range all {
		ctxs[who] = withPeer(handshake(t, bundles["listener-r1"], bundles[who]))
	}
	a := Authorizer{Region: home}
	for method, ok := range allowed {
		full := "/" + serverpb.Server_ServiceDesc.ServiceName + "/" + method
		for _, who := range all {
			err := a.authorize(ctxs[who], full)
			switch {
			case slices.Contains(ok, who) && err != nil:
				t.Errorf("%s calling %s: refused (%v), want allowed", who, method, err)
			case !slices.Contains(ok, who) && apperr.CodeOf(err) != apperr.PermissionDenied:
				t.Errorf("%s calling %s: %v (code %q), want PERMISSION_DENIED", who, method, err, apperr.CodeOf(err))
			}
		}
	}
}

// TestAuthorizerNeedsMutualTLS: a call without peer information, over a
// connection that is not TLS, or whose handshake did not complete is
// unauthenticated.
func TestAuthorizerNeedsMutualTLS(t *testing.T) {
	a := Authorizer{Region: home}
	cases := map[string]context.Context{
		"no peer":              context.Background(),
		"no auth info":         peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{}}),
		"incomplete handshake": withPeer(tls.ConnectionState{}),
		"no peer certificate":  withPeer(tls.ConnectionState{HandshakeComplete: true}),
	}
	for name, ctx := range cases {
		t.Run(name, func(t *testing.T) {
			err := a.authorize(ctx, serverpb.Server_Status_FullMethodName)
			if apperr.CodeOf(err) != apperr.Unauthenticated {
				t.Fatalf("got %v (code %q), want UNAUTHENTICATED", err, apperr.CodeOf(err))
			}
		})
	}
}

// TestInterceptorsOverMutualTLS serves the handlers behind the
// Authorizer's interceptors over real mutual TLS and calls unary and
// streaming methods as different parties: refusals arrive as
// PERMISSION_DENIED, allowed calls reach the backend.
func TestInterceptorsOverMutualTLS(t *testing.T) {
	bundles := certs(t)
	b := &fakeBackend{snapshot: []byte("snapshot bytes"), reply: nodes.Reply{Interval: time.Second}, restoreIndex: 3}
	ln := listen(t)
	a := Authorizer{Region: home}
	serveOn(t, ln, b, forward.New(forward.Config{Local: leadership{leader: true}}),
		grpc.Creds(credentials.NewTLS(bundles["listener-r1"].ServerConfig(nil, nil))),
		grpc.ChainUnaryInterceptor(a.Unary), grpc.ChainStreamInterceptor(a.Stream))
	addr := ln.Addr().String()
	as := func(who string) serverpb.ServerClient {
		pool := newPool(t, grpc.WithTransportCredentials(credentials.NewTLS(bundles[who].ClientConfigFor(addr, nil, nil))))
		conn, err := pool.Conn(addr)
		if err != nil {
			t.Fatal(err)
		}
		return serverpb.NewServerClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	denied := func(what string, err error) {
		t.Helper()
		if err = forward.FromStatus(err); apperr.CodeOf(err) != apperr.PermissionDenied {
			t.Errorf("%s: %v (code %q), want PERMISSION_DENIED", what, err, apperr.CodeOf(err))
		}
	}

	agent := as("agent-r1")
	if _, err := SendHeartbeat(ctx, agent, nodes.Heartbeat{}); err != nil {
		t.Errorf("agent heartbeat: %v", err)
	}
	_, err := agent.Apply(ctx, &serverpb.ApplyRequest{Type: 1, Payload: []byte(`{}`)})
	denied("agent Apply", err)
	_, err = ReceiveSnapshot(ctx, agent, io.Discard)
	denied("agent SnapshotSave (server stream)", err)

	operator := as("client")
	var buf bytes.Buffer
	if _, err := ReceiveSnapshot(ctx, operator, &buf); err != nil || buf.String() != "snapshot bytes" {
		t.Errorf("operator SnapshotSave: %q, %v", buf.String(), err)
	}
	if idx, err := SendSnapshot(ctx, operator, bytes.NewReader([]byte("restore me"))); err != nil || idx != 3 {
		t.Errorf("operator SnapshotRestore: index %d, %v", idx, err)
	}
	_, err = operator.Join(ctx, &serverpb.JoinRequest{NodeId: "x", RaftAddr: "a", RpcAddr: "b"})
	denied("operator Join", err)

	foreign := as("server-r2")
	if _, err := foreign.Status(ctx, &serverpb.StatusRequest{}); err != nil {
		t.Errorf("server of another region, Status: %v", err)
	}
	_, err = foreign.Join(ctx, &serverpb.JoinRequest{NodeId: "x", RaftAddr: "a", RpcAddr: "b"})
	denied("server of another region, Join", err)
	_, err = SendSnapshot(ctx, foreign, bytes.NewReader([]byte("not yours")))
	denied("server of another region, SnapshotRestore (client stream)", err)

	// Only the allowed calls reached the backend.
	want := []string{"Heartbeat", "SaveSnapshot", "RestoreSnapshot", "Status"}
	if got := b.called(); !slices.Equal(got, want) {
		t.Errorf("backend calls %v, want %v", got, want)
	}
	if _, _, restored, _ := b.received(); string(restored) != "restore me" {
		t.Errorf("restored %q", restored)
	}
}

// TestAuthorizerRefusesPlainConnections: served without TLS, the
// interceptors refuse every call, unary or streaming, as unauthenticated.
func TestAuthorizerRefusesPlainConnections(t *testing.T) {
	b := &fakeBackend{}
	ln := listen(t)
	a := Authorizer{Region: home}
	serveOn(t, ln, b, forward.New(forward.Config{Local: leadership{leader: true}}),
		grpc.ChainUnaryInterceptor(a.Unary), grpc.ChainStreamInterceptor(a.Stream))
	c := client(t, ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Status(ctx, &serverpb.StatusRequest{})
	if err = forward.FromStatus(err); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Errorf("Status over plain TCP: %v, want UNAUTHENTICATED", err)
	}
	_, err = ReceiveSnapshot(ctx, c, io.Discard)
	if apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Errorf("SnapshotSave over plain TCP: %v, want UNAUTHENTICATED", err)
	}
	if calls := b.called(); len(calls) != 0 {
		t.Errorf("the backend was called: %v", calls)
	}
}

// TestAuthorizerMethodName: the check keys on the method's last path
// element, whatever the service prefix.
func TestAuthorizerMethodName(t *testing.T) {
	bundles := certs(t)
	ctx := withPeer(handshake(t, bundles["listener-r1"], bundles["agent-r1"]))
	a := Authorizer{Region: home}
	if err := a.authorize(ctx, path.Join("/", "codeint.server.v1.Server", "Heartbeat")); err != nil {
		t.Fatalf("agent heartbeat refused: %v", err)
	}
	if err := a.authorize(ctx, "/codeint.server.v1.Server/Apply"); !errors.Is(err, apperr.ErrPermissionDenied) {
		t.Fatalf("agent Apply: %v, want PERMISSION_DENIED", err)
	}
}
