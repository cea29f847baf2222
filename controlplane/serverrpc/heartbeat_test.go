package serverrpc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/structs"
)

func TestRotate(t *testing.T) {
	servers := []string{"a", "b", "c"}
	cases := []struct {
		current string
		want    []string
	}{
		{"", []string{"a", "b", "c"}},
		{"a", []string{"a", "b", "c"}},
		{"b", []string{"b", "c", "a"}},
		{"c", []string{"c", "a", "b"}},
		{"gone", []string{"a", "b", "c"}},
	}
	for _, c := range cases {
		if got := rotate(servers, c.current); !slices.Equal(got, c.want) {
			t.Errorf("rotate(%v, %q) = %v, want %v", servers, c.current, got, c.want)
		}
	}
	if !slices.Equal(servers, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its input: %v", servers)
	}
}

// TestHeartbeaterFindsAnAnsweringServer: the first server listed does not
// answer; the beats reach the second, whose replies (and their interval)
// are handed to OnReply.
func TestHeartbeaterFindsAnAnsweringServer(t *testing.T) {
	dead := listen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	b := &fakeBackend{reply: nodes.Reply{Interval: 20 * time.Millisecond, Kill: []string{"sb_1"}}}
	live := serveLeader(t, b)

	var mu sync.Mutex
	var replies []nodes.Reply
	got := make(chan struct{}, 1)
	h := NewHeartbeater(HeartbeaterConfig{
		Servers: func(context.Context) ([]string, error) { return []string{deadAddr, live}, nil },
		Dial:    newPool(t),
		Beat: func(context.Context) (nodes.Heartbeat, error) {
			return nodes.Heartbeat{Node: structs.Node{ID: "n1"}}, nil
		},
		OnReply: func(_ context.Context, r nodes.Reply) {
			mu.Lock()
			replies = append(replies, r)
			n := len(replies)
			mu.Unlock()
			if n == 3 {
				got <- struct{}{}
			}
		},
		Interval: time.Hour, // only the reply's interval can make it beat again soon
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no three replies")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(replies[0].Kill, []string{"sb_1"}) {
		t.Errorf("reply %+v", replies[0])
	}
	_, _, _, beats := b.received()
	if len(beats) < 3 || beats[0].Node.ID != "n1" {
		t.Errorf("the live server got %d beats", len(beats))
	}
}

// TestHeartbeaterKick: a kick beats at once, without waiting for the
// interval.
func TestHeartbeaterKick(t *testing.T) {
	b := &fakeBackend{}
	live := serveLeader(t, b)
	beats := make(chan struct{}, 10)
	h := NewHeartbeater(HeartbeaterConfig{
		Servers: func(context.Context) ([]string, error) { return []string{live}, nil },
		Dial:    newPool(t),
		Beat: func(context.Context) (nodes.Heartbeat, error) {
			beats <- struct{}{}
			return nodes.Heartbeat{}, nil
		},
		Interval: time.Hour,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-beats // the first beat goes at once
	h.Kick()
	select {
	case <-beats:
	case <-time.After(10 * time.Second):
		t.Fatal("a kick did not beat")
	}
}

// TestHeartbeaterWithoutServers: no server known is an error, and so is
// every server failing.
func TestHeartbeaterWithoutServers(t *testing.T) {
	h := NewHeartbeater(HeartbeaterConfig{
		Servers: func(context.Context) ([]string, error) { return nil, nil },
		Dial:    newPool(t),
		Beat:    func(context.Context) (nodes.Heartbeat, error) { return nodes.Heartbeat{}, nil },
	})
	if _, err := h.beatOnce(context.Background(), ""); !errors.Is(err, errNoServers) {
		t.Fatalf("no servers: %v", err)
	}
	dead := listen(t)
	addr := dead.Addr().String()
	dead.Close()
	h.cfg.Servers = func(context.Context) ([]string, error) { return []string{addr}, nil }
	res, err := h.beatOnce(context.Background(), addr)
	if err == nil || res.server != "" {
		t.Fatalf("a dead server: %+v, %v", res, err)
	}
}

// TestPool: one connection per address, none after Close.
func TestPool(t *testing.T) {
	p := newPool(t)
	a1, err := p.Conn("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := p.Conn("127.0.0.1:1")
	b, _ := p.Conn("127.0.0.1:2")
	if a1 != a2 || a1 == b {
		t.Fatalf("connections: same address %v, other address %v", a1 == a2, a1 == b)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Conn("127.0.0.1:1"); err == nil {
		t.Fatal("a closed pool gave a connection")
	}
}
