package serverrpc

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
)

// fakeBackend is a Backend that records every call and answers from its
// fields.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string

	applyFn      func(t command.Type, req any) (any, error)
	applied      uint64
	readIndex    uint64
	status       *serverpb.StatusReply
	peers        []*serverpb.Peer
	snapshot     []byte // what SaveSnapshot writes
	restoreIndex uint64
	reply        nodes.Reply

	joins    []*serverpb.JoinRequest
	removed  []string
	restored []byte
	beats    []nodes.Heartbeat
}

func (b *fakeBackend) record(call string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, call)
}

// called lists the calls made so far.
func (b *fakeBackend) called() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func (b *fakeBackend) Apply(_ context.Context, t command.Type, req any) (any, error) {
	b.record("Apply")
	if b.applyFn == nil {
		return nil, errors.New("fakeBackend: no Apply scripted")
	}
	return b.applyFn(t, req)
}

func (b *fakeBackend) AppliedIndex() uint64 { return b.applied }

func (b *fakeBackend) ReadIndex(context.Context) (uint64, error) {
	b.record("ReadIndex")
	return b.readIndex, nil
}

func (b *fakeBackend) Status(bool) (*serverpb.StatusReply, error) {
	b.record("Status")
	if b.status == nil {
		return &serverpb.StatusReply{}, nil
	}
	return b.status, nil
}

func (b *fakeBackend) Join(_ context.Context, req *serverpb.JoinRequest) error {
	b.record("Join")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.joins = append(b.joins, req)
	return nil
}

func (b *fakeBackend) RemovePeer(_ context.Context, nodeID string) error {
	b.record("RemovePeer")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removed = append(b.removed, nodeID)
	return nil
}

func (b *fakeBackend) Peers(context.Context) ([]*serverpb.Peer, error) {
	b.record("Peers")
	return b.peers, nil
}

func (b *fakeBackend) SaveSnapshot(_ context.Context, w io.Writer) error {
	b.record("SaveSnapshot")
	_, err := w.Write(b.snapshot)
	return err
}

// RestoreSnapshot records the call once it has read everything.
func (b *fakeBackend) RestoreSnapshot(_ context.Context, r io.Reader) (uint64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	b.record("RestoreSnapshot")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restored = data
	return b.restoreIndex, nil
}

// received returns what the backend was given: joins, removed ids,
// restored bytes, heartbeats.
func (b *fakeBackend) received() ([]*serverpb.JoinRequest, []string, []byte, []nodes.Heartbeat) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.joins), slices.Clone(b.removed), b.restored, slices.Clone(b.beats)
}

func (b *fakeBackend) Heartbeat(_ context.Context, hb nodes.Heartbeat) (nodes.Reply, error) {
	b.record("Heartbeat")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.beats = append(b.beats, hb)
	return b.reply, nil
}

// leadership is the forwarder's view of the region: this server leads,
// or follows leaderID. Only what OnLeader needs is implemented.
type leadership struct {
	leader   bool
	leaderID string
}

func (l leadership) Apply(context.Context, command.Type, any) (any, error) {
	return nil, errors.New("leadership: Apply is not the forwarder's to call here")
}
func (l leadership) State() *state.Store                       { return nil }
func (l leadership) IsLeader() bool                            { return l.leader }
func (l leadership) LeaderID() string                          { return l.leaderID }
func (l leadership) WaitApplied(context.Context, uint64) error { return nil }
func (l leadership) rpcAddr(addrs map[string]string) func(string) (string, bool) {
	return func(id string) (string, bool) {
		a, ok := addrs[id]
		return a, ok
	}
}

// newPool is an insecure pool closed when the test ends.
func newPool(t *testing.T, opts ...grpc.DialOption) *Pool {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	p := NewPool(opts...)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// listen opens a loopback listener.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serveOn serves the handlers of b (forwarding with fwd) on ln until the
// test ends.
func serveOn(t *testing.T, ln net.Listener, b Backend, fwd *forward.Forwarder, opts ...grpc.ServerOption) {
	t.Helper()
	g := grpc.NewServer(opts...)
	NewServer(b, fwd, nil).Register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
}

// serveLeader serves b as the region's leader and returns its address.
func serveLeader(t *testing.T, b Backend) string {
	t.Helper()
	ln := listen(t)
	serveOn(t, ln, b, forward.New(forward.Config{Local: leadership{leader: true, leaderID: "leader"}}))
	return ln.Addr().String()
}

// serveFollower serves b as a follower of the leader at leaderAddr and
// returns its address.
func serveFollower(t *testing.T, b Backend, leaderAddr string) string {
	t.Helper()
	ln := listen(t)
	l := leadership{leaderID: "leader"}
	fwd := forward.New(forward.Config{Local: l, Dial: newPool(t), RPCAddr: l.rpcAddr(map[string]string{"leader": leaderAddr})})
	serveOn(t, ln, b, fwd)
	return ln.Addr().String()
}

// client is a Server client of addr over an insecure connection.
func client(t *testing.T, addr string) serverpb.ServerClient {
	t.Helper()
	conn, err := newPool(t).Conn(addr)
	if err != nil {
		t.Fatal(err)
	}
	return serverpb.NewServerClient(conn)
}

// patterned returns n bytes that differ from chunk to chunk, so that a
// reordered or repeated chunk shows.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/chunkSize)
	}
	return b
}
