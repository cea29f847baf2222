package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// TestClusterReplicationAndFailover runs three servers over loopback TCP:
// one bootstraps, two join, every server applies what the leader commits,
// and when the leader stops another one takes over.
func TestClusterReplicationAndFailover(t *testing.T) {
	var stores []*Store
	for i, id := range []string{"s1", "s2", "s3"} {
		cfg := fastConfig(id, t.TempDir())
		cfg.BindAddr = "127.0.0.1:0"
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			if err := s.Bootstrap(); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitForLeader(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		} else if err := stores[0].Join(id, s.Addr()); err != nil {
			t.Fatalf("Join %s: %v", id, err)
		}
		stores = append(stores, s)
	}
	// Joining again is a no-op.
	if err := stores[0].Join("s2", stores[1].Addr()); err != nil {
		t.Fatalf("second Join: %v", err)
	}

	leader := stores[0]
	sb := mustApply(t, leader, command.SandboxCreate, create("sb_1")).(*structs.Sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stores[1:] {
		snap, err := s.State().WaitForIndex(ctx, sb.ModifyIndex)
		if err != nil {
			t.Fatalf("%s did not apply index %d: %v", s.NodeID(), sb.ModifyIndex, err)
		}
		if snap.SandboxByID("sb_1") == nil {
			t.Fatalf("%s lacks the sandbox", s.NodeID())
		}
		if s.IsLeader() || s.LeaderID() != "s1" || s.LeaderAddr() != leader.Addr() {
			t.Fatalf("%s sees leader %q at %q", s.NodeID(), s.LeaderID(), s.LeaderAddr())
		}
		if _, err := s.Apply(ctx, command.SandboxCreate, create("sb_2")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("Apply on follower %s = %v", s.NodeID(), err)
		}
	}

	start := time.Now()
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var next *Store
	for next == nil && time.Since(start) < 10*time.Second {
		for _, s := range stores[1:] {
			if s.IsLeader() {
				next = s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if next == nil {
		t.Fatal("no new leader")
	}
	t.Logf("failover to %s in %v (heartbeat timeout %v)", next.NodeID(), time.Since(start), next.cfg.HeartbeatTimeout)
	if err := next.WaitForLeader(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	mustApply(t, next, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_1", At: t0, State: structs.SandboxRunning})
}
