package tlsutil

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

// TestGRPC runs the configs under gRPC's credentials.NewTLS, which clones
// them and adds ALPN "h2" (also to the per-connection config of
// ServerConfig), and reads the caller's identity in an interceptor.
func TestGRPC(t *testing.T) {
	ca := mustCA(t, "cl_test")
	server := mustBundle(t, ca, RoleServer, "r1", "s1")
	srvLog, srvBuf := newLog()

	seen := make(chan Identity, 4)
	identify := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		p, _ := peer.FromContext(ctx)
		ti, _ := p.AuthInfo.(credentials.TLSInfo)
		id, err := PeerIdentity(ti.State)
		if err != nil {
			return nil, err
		}
		seen <- id
		return next(ctx, req)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(server.ServerConfig(srvLog, RequireRole(RoleServer)))),
		grpc.UnaryInterceptor(identify))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	check := func(b *Bundle) error {
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(
			credentials.NewTLS(b.ClientConfigFor(ln.Addr().String(), nil, RequireRole(RoleServer)))))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}

	peerServer := mustBundle(t, ca, RoleServer, "r1", "s2")
	if err := check(peerServer); err != nil {
		t.Fatalf("server to server: %v\nserver log: %s", err, srvBuf)
	}
	if id := <-seen; id != peerServer.Identity() {
		t.Errorf("handler saw %+v, want %+v", id, peerServer.Identity())
	}
	if err := check(mustBundle(t, ca, RoleAgent, "r1", "n1")); err == nil {
		t.Fatal("an agent got through a server-only listener")
	}
	if log := srvBuf.String(); !strings.Contains(log, `msg="tls peer refused"`) || !strings.Contains(log, "peer=codeint://cl_test/agent/r1/n1") {
		t.Errorf("no refusal logged: %q", log)
	}
}
