package agentrpc

import (
	"context"
	"errors"
	"net"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// fakeAgent is an agentapi.Agent whose methods are its function fields;
// a nil field fails the call.
type fakeAgent struct {
	start     func(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, error)
	stop      func(ctx context.Context, sandboxID string) error
	execute   func(ctx context.Context, sandboxID string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error)
	sandboxes func(ctx context.Context) ([]string, error)
	openEnvd  func(ctx context.Context, sandboxID string) (net.Conn, error)
}

var errNotFaked = errors.New("fake: not faked")

func (f *fakeAgent) NodeID() string { return "fake-node" }

func (f *fakeAgent) StartSandbox(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, error) {
	if f.start == nil {
		return agentapi.StartResult{}, errNotFaked
	}
	return f.start(ctx, req)
}

func (f *fakeAgent) StopSandbox(ctx context.Context, sandboxID string) error {
	if f.stop == nil {
		return errNotFaked
	}
	return f.stop(ctx, sandboxID)
}

func (f *fakeAgent) Execute(ctx context.Context, sandboxID string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
	if f.execute == nil {
		return agentapi.ExecResult{}, errNotFaked
	}
	return f.execute(ctx, sandboxID, req, onOutput)
}

func (f *fakeAgent) Sandboxes(ctx context.Context) ([]string, error) {
	if f.sandboxes == nil {
		return nil, errNotFaked
	}
	return f.sandboxes(ctx)
}

func (f *fakeAgent) OpenEnvd(ctx context.Context, sandboxID string) (net.Conn, error) {
	if f.openEnvd == nil {
		return nil, errNotFaked
	}
	return f.openEnvd(ctx, sandboxID)
}

// fakeWarmAgent is a fakeAgent that keeps warm sandboxes.
type fakeWarmAgent struct {
	*fakeAgent
	claim func(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, bool, error)
}

func (f *fakeWarmAgent) ClaimWarm(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, bool, error) {
	return f.claim(ctx, req)
}

// mustServe serves a over a real grpc.Server on 127.0.0.1 and returns a
// Client of node "node-1" connected to it. When the test ends, it closes
// both and checks that no goroutine is left behind.
func mustServe(t *testing.T, a agentapi.Agent, opts ...grpc.ServerOption) *Client {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	NewServer(a).Register(g)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return NewClient("node-1", cc)
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends. It may be called from any goroutine.
func tcpPair(t *testing.T) (net.Conn, net.Conn, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer lis.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := lis.Accept()
		acc <- accepted{c, err}
	}()
	a, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	b := <-acc
	if b.err != nil {
		a.Close()
		return nil, nil, b.err
	}
	t.Cleanup(func() { a.Close(); b.c.Close() })
	return a, b.c, nil
}
