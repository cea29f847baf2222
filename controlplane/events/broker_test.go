package events

import (
	"context"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

func ev(index uint64, team, id string) structs.SandboxEvent {
	return structs.SandboxEvent{Index: index, Type: structs.SandboxEventStateChanged,
		Sandbox: &structs.Sandbox{ID: id, TeamID: team}}
}

func recv(t *testing.T, ch <-chan structs.SandboxEvent) (structs.SandboxEvent, bool) {
	t.Helper()
	select {
	case e, ok := <-ch:
		return e, ok
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2s")
		return structs.SandboxEvent{}, false
	}
}

func TestFilterByTeamAndSandbox(t *testing.T) {
	b := NewBroker(8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	team := b.Subscribe(ctx, Filter{TeamID: "t1"})
	one := b.Subscribe(ctx, Filter{TeamID: "t1", SandboxID: "sb2"})

	b.Publish(ev(1, "t1", "sb1"))
	b.Publish(ev(2, "t2", "sb9"))
	b.Publish(ev(3, "t1", "sb2"))

	if e, _ := recv(t, team); e.Index != 1 {
		t.Fatalf("team sub first index = %d, want 1", e.Index)
	}
	if e, _ := recv(t, team); e.Index != 3 {
		t.Fatalf("team sub second index = %d, want 3 (other team's event leaked?)", e.Index)
	}
	if e, _ := recv(t, one); e.Index != 3 {
		t.Fatalf("sandbox sub index = %d, want 3", e.Index)
	}
}

func TestCancelClosesAndRemoves(t *testing.T) {
	b := NewBroker(8)
	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Subscribe(ctx, Filter{})
	cancel()
	if _, ok := recv(t, ch); ok {
		t.Fatal("channel not closed after cancel")
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("subscribers = %d after cancel", n)
	}
}

func TestSlowSubscriberDroppedPublishNeverBlocks(t *testing.T) {
	b := NewBroker(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := b.Subscribe(ctx, Filter{})
	done := make(chan struct{})
	go func() {
		for i := uint64(1); i <= 10; i++ {
			b.Publish(ev(i, "t", "s"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	n := 0
	for range slow {
		n++
	}
	if n != 2 {
		t.Fatalf("slow subscriber got %d events before being dropped, want its buffer (2)", n)
	}
}

func TestCloseClosesAll(t *testing.T) {
	b := NewBroker(1)
	ch := b.Subscribe(context.Background(), Filter{})
	b.Close()
	if _, ok := recv(t, ch); ok {
		t.Fatal("open after Close")
	}
	if _, ok := recv(t, b.Subscribe(context.Background(), Filter{})); ok {
		t.Fatal("subscription after Close is open")
	}
}

func TestNodeBroker(t *testing.T) {
	b := NewNodeBroker(2)
	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Subscribe(ctx)
	b.Publish(structs.NodeEvent{Index: 1, Type: structs.NodeEventDown, Lost: []string{"sb_1"}})
	if ev := <-ch; ev.Index != 1 || ev.Type != structs.NodeEventDown || len(ev.Lost) != 1 {
		t.Fatalf("event %+v", ev)
	}
	cancel()
	if _, open := <-ch; open {
		t.Fatal("the channel stays open after its context ended")
	}
	b.Close()
	if _, open := <-b.Subscribe(context.Background()); open {
		t.Fatal("a subscription after Close is open")
	}
}
