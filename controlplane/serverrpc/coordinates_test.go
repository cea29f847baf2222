package serverrpc

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/internal/testwait"
)

func estimator(t *testing.T) *vivaldi.Estimator {
	t.Helper()
	e, err := vivaldi.New()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serveWithCoordinates serves b with forwarder fwd and coordinate e, and
// returns its address.
func serveWithCoordinates(t *testing.T, b Backend, fwd *forward.Forwarder, e *vivaldi.Estimator) string {
	t.Helper()
	ln := listen(t)
	g := grpc.NewServer()
	NewServer(b, fwd, nil).SetCoordinates(e).Register(g)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

func same(a, b *coordinate.Coordinate) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestHeartbeatAnswersWithTheCoordinateOfTheServerAsked: a heartbeat sent
// to a follower is answered with the follower's coordinate, not the
// leader's; the follower observes the agent's coordinate with the round
// trip the agent reports, the leader (which the agent did not measure)
// does not, and the leader's tracker gets both. Sent to the leader, the
// leader answers with its own and observes.
func TestHeartbeatAnswersWithTheCoordinateOfTheServerAsked(t *testing.T) {
	leaderCoords, followerCoords := estimator(t), estimator(t)
	leaderB, followerB := &fakeBackend{}, &fakeBackend{}
	leaderAddr := serveWithCoordinates(t, leaderB, forward.New(forward.Config{Local: leadership{leader: true, leaderID: "leader"}}), leaderCoords)
	l := leadership{leaderID: "leader"}
	followerAddr := serveWithCoordinates(t, followerB, forward.New(forward.Config{Local: l, Dial: newPool(t),
		RPCAddr: l.rpcAddr(map[string]string{"leader": leaderAddr})}), followerCoords)

	agent := &coordinate.Coordinate{Vec: []float64{0.002, 0, 0, 0, 0, 0, 0, 0}, Error: 0.5, Height: 1e-5}
	hb := nodes.Heartbeat{Node: structs.Node{ID: "n1"}, Coord: agent, RTT: 2 * time.Millisecond}
	leaderBefore, followerBefore := leaderCoords.Coordinate(), followerCoords.Coordinate()
	reply, err := SendHeartbeat(testCtx(t), client(t, followerAddr), hb)
	if err != nil {
		t.Fatal(err)
	}
	if !same(reply.Coord, followerCoords.Coordinate()) || same(reply.Coord, leaderCoords.Coordinate()) {
		t.Fatalf("the follower answered with %+v; its own is %+v, the leader's %+v", reply.Coord, followerCoords.Coordinate(), leaderCoords.Coordinate())
	}
	if same(followerCoords.Coordinate(), followerBefore) {
		t.Error("the follower did not observe the agent")
	}
	if !same(leaderCoords.Coordinate(), leaderBefore) {
		t.Error("the leader observed a round trip the agent measured to the follower")
	}
	if _, _, _, beats := leaderB.received(); len(beats) != 1 || !same(beats[0].Coord, agent) || beats[0].RTT != hb.RTT {
		t.Fatalf("the leader's tracker got %+v", beats)
	}

	reply, err = SendHeartbeat(testCtx(t), client(t, leaderAddr), hb)
	if err != nil {
		t.Fatal(err)
	}
	if !same(reply.Coord, leaderCoords.Coordinate()) || same(leaderCoords.Coordinate(), leaderBefore) {
		t.Fatalf("the leader answered with %+v (its own %+v, before the beat %+v)", reply.Coord, leaderCoords.Coordinate(), leaderBefore)
	}

	// Without coordinates a server answers with none, even when the leader
	// it forwards to has one.
	plain := serveFollower(t, &fakeBackend{}, leaderAddr)
	if reply, err := SendHeartbeat(testCtx(t), client(t, plain), hb); err != nil || reply.Coord != nil {
		t.Fatalf("a server without coordinates: %+v, %v", reply.Coord, err)
	}
}

// TestHeartbeaterExchangesCoordinates: with coordinates on, every beat
// carries the agent's coordinate and, from the second on, the previous
// beat's round trip; the agent observes the server's coordinate from the
// replies, and the server the agent's.
func TestHeartbeaterExchangesCoordinates(t *testing.T) {
	agentCoords, serverCoords := estimator(t), estimator(t)
	b := &fakeBackend{reply: nodes.Reply{Interval: 5 * time.Millisecond}}
	addr := serveWithCoordinates(t, b, forward.New(forward.Config{Local: leadership{leader: true, leaderID: "leader"}}), serverCoords)
	agentBefore, serverBefore := agentCoords.Coordinate(), serverCoords.Coordinate()
	h := NewHeartbeater(HeartbeaterConfig{
		Servers: func(context.Context) ([]string, error) { return []string{addr}, nil },
		Dial:    newPool(t),
		Beat: func(context.Context) (nodes.Heartbeat, error) {
			return nodes.Heartbeat{Node: structs.Node{ID: "n1"}}, nil
		},
		Coordinates: agentCoords,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.Run(ctx) }()
	testwait.For(t, 20*time.Second, "three beats", func() bool {
		_, _, _, beats := b.received()
		return len(beats) >= 3
	})
	cancel()
	wg.Wait()
	_, _, _, beats := b.received()
	if beats[0].Coord == nil || beats[0].RTT != 0 {
		t.Errorf("the first beat: coordinate %+v, round trip %v; want a coordinate and no round trip", beats[0].Coord, beats[0].RTT)
	}
	for i, hb := range beats[1:] {
		if hb.Coord == nil || hb.RTT <= 0 || hb.RTT > 20*time.Second {
			t.Errorf("beat %d: coordinate %+v, round trip %v", i+2, hb.Coord, hb.RTT)
		}
	}
	if same(agentCoords.Coordinate(), agentBefore) {
		t.Error("the agent did not observe the server's coordinate")
	}
	if same(serverCoords.Coordinate(), serverBefore) {
		t.Error("the server did not observe the agent's coordinate")
	}

	// Without coordinates the beats carry none.
	plain := &fakeBackend{}
	addr = serveLeader(t, plain)
	h = NewHeartbeater(HeartbeaterConfig{
		Servers: func(context.Context) ([]string, error) { return []string{addr}, nil },
		Dial:    newPool(t),
		Beat: func(context.Context) (nodes.Heartbeat, error) {
			return nodes.Heartbeat{Node: structs.Node{ID: "n1"}}, nil
		},
	})
	for range 2 {
		if _, err := h.beatOnce(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, beats := plain.received(); len(beats) != 2 || beats[1].Coord != nil || beats[1].RTT != 0 {
		t.Fatalf("beats without coordinates: %+v", beats)
	}
}
