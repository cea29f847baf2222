package federation

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/internal/testwait"
)

// waitTimeout bounds every wait for something to happen.
const waitTimeout = 15 * time.Second

// applied is one command a fakeLocal committed: its type and the id of
// the team or key.
type applied struct {
	t  command.Type
	id string
}

// fakeLocal is a region's store: global writes land in a real
// state.Store at increasing indexes, and every Apply is recorded. Like
// the real state machine it refuses a key whose team does not exist.
type fakeLocal struct {
	st         *state.Store
	leader     bool
	leaderAddr string

	mu      sync.Mutex
	index   uint64
	applies []applied
	fail    func(t command.Type, id string) error // when set and not nil, Apply refuses
}

func newLocal(t *testing.T, leaderAddr string) *fakeLocal {
	t.Helper()
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeLocal{st: st, leader: true, leaderAddr: leaderAddr}
}

func (l *fakeLocal) Apply(_ context.Context, t command.Type, req any) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var team *structs.Team
	var key *structs.APIKey
	switch r := req.(type) {
	case command.AccountUpdateRequest:
		// Replication copies whole accounts.
		if r.Replace == nil || l.st.Snapshot().TeamByID(r.TeamID) == nil {
			return nil, apperr.New(apperr.InvalidArgument, "fakeLocal: account of %q: a replacement of an existing team's account only", r.TeamID)
		}
		l.applies = append(l.applies, applied{t, r.TeamID})
		l.write(func(txn *state.WriteTxn) error { return txn.UpsertAccount(r.Replace) })
		return r.Replace, nil
	case command.RegionUsageRequest:
		// Usage reports go through the state machine's own logic.
		if l.fail != nil {
			if err := l.fail(t, ""); err != nil {
				return nil, err
			}
		}
		res := &command.RegionUsageResult{}
		l.write(func(txn *state.WriteTxn) error {
			for _, rep := range r.Reports {
				ok, err := txn.ApplyRegionReport(rep, r.At)
				if err != nil {
					return err
				}
				if ok {
					res.Applied++
					res.Months += len(rep.Months)
				} else {
					res.Stale++
				}
			}
			return nil
		})
		for _, rep := range r.Reports {
			l.applies = append(l.applies, applied{t, rep.Region})
		}
		return res, nil
	case command.TeamUpsertRequest:
		team = &r.Team
	case *command.TeamUpsertRequest:
		team = &r.Team
	case command.APIKeyUpsertRequest:
		key = &r.Key
	case *command.APIKeyUpsertRequest:
		key = &r.Key
	default:
		return nil, apperr.New(apperr.InvalidArgument, "fakeLocal: %v %T is not a global write", t, req)
	}
	id := ""
	if team != nil {
		id = team.ID
	} else {
		id = key.ID
	}
	if l.fail != nil {
		if err := l.fail(t, id); err != nil {
			return nil, err
		}
	}
	if key != nil && l.st.Snapshot().TeamByID(key.TeamID) == nil {
		return nil, apperr.New(apperr.InvalidArgument, "API key %s: team %q does not exist", key.ID, key.TeamID)
	}
	l.applies = append(l.applies, applied{t, id})
	if team != nil {
		l.write(func(txn *state.WriteTxn) error { return txn.UpsertTeam(team) })
		return team, nil
	}
	l.write(func(txn *state.WriteTxn) error { return txn.UpsertAPIKey(key) })
	return key, nil
}

// write commits fn at the next index; l.mu is held.
func (l *fakeLocal) write(fn func(*state.WriteTxn) error) {
	l.index++
	txn := l.st.WriteTxn(l.index)
	if err := fn(txn); err != nil {
		txn.Abort()
		panic(err)
	}
	if err := txn.Commit(); err != nil {
		panic(err)
	}
}

// seed writes teams, keys and nodes without recording an Apply.
func (l *fakeLocal) seed(teams []structs.Team, keys []structs.APIKey, nodeList ...structs.Node) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(func(txn *state.WriteTxn) error {
		for _, t := range teams {
			if err := txn.UpsertTeam(&t); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := txn.UpsertAPIKey(&k); err != nil {
				return err
			}
		}
		for _, n := range nodeList {
			if err := txn.UpsertNode(&n); err != nil {
				return err
			}
		}
		return nil
	})
}

// meter adds usage to a team's hour in the ledger, without recording an
// Apply.
func (l *fakeLocal) meter(team string, hour time.Time, vcpuSeconds float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(func(txn *state.WriteTxn) error {
		b := &structs.UsageBucket{ID: structs.BucketID(team, hour), TeamID: team, Hour: hour}
		if cur := txn.UsageBucket(b.ID); cur != nil {
			c := *cur
			b = &c
		}
		b.VCPUSeconds += vcpuSeconds
		b.Records++
		return txn.UpsertUsageBucket(b)
	})
}

// setFail makes Apply refuse with what fail returns (nil: accept).
func (l *fakeLocal) setFail(fail func(t command.Type, id string) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = fail
}

// recorded returns the Applies so far.
func (l *fakeLocal) recorded() []applied {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.applies)
}

func (l *fakeLocal) State() *state.Store { return l.st }
func (l *fakeLocal) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leader
}
func (l *fakeLocal) LeaderAddr() string                        { return l.leaderAddr }
func (l *fakeLocal) LeaderID() string                          { return "" }
func (l *fakeLocal) WaitApplied(context.Context, uint64) error { return nil }

// statusBackend is a serverrpc.Backend that only answers Status, as a
// server of a region answers federation's probes.
type statusBackend struct {
	region, leaderAddr, authoritative string
	coords                            *vivaldi.Estimator // the server's coordinate, sent when not nil
	summary                           func() []byte      // the region's summary, sent when not nil
}

var errUnused = errors.New("statusBackend: not used by federation")

func (b statusBackend) Status(bool) (*serverpb.StatusReply, error) {
	st := &serverpb.StatusReply{Region: b.region, LeaderAddr: b.leaderAddr, AuthoritativeRegion: b.authoritative,
		Coordinate: vivaldi.Encode(b.coords.Coordinate())}
	if b.summary != nil {
		st.Summary = b.summary()
	}
	return st, nil
}
func (statusBackend) Apply(context.Context, command.Type, any) (any, error) { return nil, errUnused }
func (statusBackend) AppliedIndex() uint64                                  { return 0 }
func (statusBackend) ReadIndex(context.Context) (uint64, error)             { return 0, errUnused }
func (statusBackend) Join(context.Context, *serverpb.JoinRequest) error     { return errUnused }
func (statusBackend) RemovePeer(context.Context, string) error              { return errUnused }
func (statusBackend) Peers(context.Context) ([]*serverpb.Peer, error)       { return nil, errUnused }
func (statusBackend) SaveSnapshot(context.Context, io.Writer) error         { return errUnused }
func (statusBackend) RestoreSnapshot(context.Context, io.Reader) (uint64, error) {
	return 0, errUnused
}
func (statusBackend) Heartbeat(context.Context, nodes.Heartbeat) (nodes.Reply, error) {
	return nodes.Reply{}, errUnused
}

// server is one server of a region: a Federation served over real gRPC
// on loopback with its fake store.
type server struct {
	region string
	addr   string
	fed    *Federation
	local  *fakeLocal

	mu    sync.Mutex
	peers []string // what Config.Peers returns
}

// regionOpts tunes startServer.
type regionOpts struct {
	claims string // the authoritative region its Status names; "" = the one it holds
	// coords, when set, is the server's coordinate: in its Config and in
	// its Status replies.
	coords *vivaldi.Estimator
	// summary, when set, gives the summary its Status replies carry.
	summary func() []byte
	// delay, when set, is how long each of its calls to the server at an
	// address waits before it is sent: the network's round trip.
	delay func(addr string) time.Duration
}

// startServer serves a server of region that holds authoritative to own
// the global state, until the test ends.
func startServer(t *testing.T, region, authoritative string, opts ...regionOpts) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{region: region, addr: ln.Addr().String(), local: newLocal(t, "raft-"+region)}
	var opt regionOpts
	if len(opts) > 0 {
		opt = opts[0]
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if opt.delay != nil {
		dialOpts = append(dialOpts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
			cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(opt.delay(cc.Target())):
			}
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}))
	}
	pool := serverrpc.NewPool(dialOpts...)
	t.Cleanup(func() { _ = pool.Close() })
	s.fed = New(Config{
		Region: region, RPCAddr: s.addr, Authoritative: authoritative,
		Peers: func(context.Context) ([]string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return slices.Clone(s.peers), nil
		},
		Dial: pool, Local: s.local, ProbeInterval: 50 * time.Millisecond, PollWait: 300 * time.Millisecond,
		Coordinates: opt.coords,
	})
	claims := authoritative
	if opt.claims != "" {
		claims = opt.claims
	}
	g := grpc.NewServer()
	serverrpc.NewServer(statusBackend{region: region, leaderAddr: "raft-" + region, authoritative: claims, coords: opt.coords, summary: opt.summary},
		forward.New(forward.Config{Local: s.local}), s.fed).Register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return s
}

// setPeers sets what Config.Peers returns.
func (s *server) setPeers(addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers = addrs
}

// probe has s probe the servers at addrs once.
func (s *server) probe(t *testing.T, addrs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, a := range addrs {
		s.fed.probe(ctx, a)
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// inject records a server as if probes had seen it.
func (f *Federation) inject(p peerState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers[p.addr] = &p
}

// peer returns a copy of what the probes saw of addr, and whether there
// is an entry.
func (f *Federation) peer(addr string) (peerState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.servers[addr]
	if !ok {
		return peerState{}, false
	}
	c := *p
	c.rtts = slices.Clone(p.rtts)
	return c, true
}

// waitFor polls cond until it holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, waitTimeout, what, cond)
}

func testCtx(t *testing.T) context.Context { return testwait.Context(t, waitTimeout) }

// hash is a valid key hash (hex SHA-256) made from a letter.
func hash(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = "0123456789abcdef"[(int(c)+i)%16]
	}
	return string(b)
}

// created is a fixed creation time, so that records compare equal.
func created() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }
