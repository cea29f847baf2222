package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// TestReadIndexFollowerSeesWrite: a follower that waits for the leader's
// read index sees every write the leader acknowledged before.
func TestReadIndexFollowerSeesWrite(t *testing.T) {
	stores := startTCPCluster(t, 3)
	leader := stores[0]
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i, follower := range stores[1:] {
		id := []string{"sb_a", "sb_b"}[i]
		written := sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create(id)))
		index, err := leader.ReadIndex(ctx)
		if err != nil {
			t.Fatalf("ReadIndex: %v", err)
		}
		if index < written {
			t.Fatalf("read index %d before the write at %d", index, written)
		}
		if err := follower.WaitApplied(ctx, index); err != nil {
			t.Fatalf("WaitApplied on %s: %v", follower.NodeID(), err)
		}
		if follower.State().Snapshot().SandboxByID(id) == nil {
			t.Fatalf("%s does not see %s after WaitApplied(%d) (state at %d)", follower.NodeID(), id, index, follower.State().Index())
		}
	}

	if _, err := stores[1].ReadIndex(ctx); !errors.Is(err, ErrNotLeader) || apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("ReadIndex on a follower = %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	err := stores[1].WaitApplied(short, leader.CommitIndex()+1000)
	if !errors.Is(err, ErrTimeout) || apperr.CodeOf(err) != apperr.DeadlineExceeded {
		t.Fatalf("WaitApplied past the log = %v", err)
	}
}

// TestReadIndexAfterElection: after a failover, with no write since, the
// read index is the new leader's no-op entry, which the state machine never
// sees: WaitApplied must still return.
func TestReadIndexAfterElection(t *testing.T) {
	stores := startTCPCluster(t, 3)
	written := sandboxIndex(t, mustApply(t, stores[0], command.SandboxCreate, create("sb_1")))
	for _, s := range stores[1:] {
		waitIndex(t, s, written)
	}
	if err := stores[0].Close(); err != nil {
		t.Fatal(err)
	}
	var leader *Store
	waitFor(t, "a new leader", func() bool {
		for _, s := range stores[1:] {
			if s.IsLeader() {
				leader = s
			}
		}
		return leader != nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var index uint64
	waitFor(t, "a read index from the new leader", func() bool {
		var err error
		index, err = leader.ReadIndex(ctx)
		if err != nil && !errors.Is(err, ErrNotLeader) {
			t.Fatalf("ReadIndex: %v", err)
		}
		return err == nil
	})
	if index <= written {
		t.Fatalf("read index %d, want past the new term's no-op (last write at %d)", index, written)
	}
	for _, s := range stores[1:] {
		if err := s.WaitApplied(ctx, index); err != nil {
			t.Fatalf("WaitApplied(%d) on %s (state at %d): %v", index, s.NodeID(), s.State().Index(), err)
		}
	}
	// Writes go on, and the next read index covers them.
	sb := mustApply(t, leader, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_1", At: t0, State: structs.SandboxRunning})
	index, err := leader.ReadIndex(ctx)
	if err != nil || index < sandboxIndex(t, sb) {
		t.Fatalf("ReadIndex = %d, %v", index, err)
	}
}

// TestReadIndexPartitionedLeader: a leader cut off from its quorum refuses
// to serve a read index, quickly.
func TestReadIndexPartitionedLeader(t *testing.T) {
	// A longer lease (half the heartbeat timeout) than fastConfig's, so
	// that the leader is most likely still leading when ReadIndex asks the
	// quorum.
	cfgs := make([]Config, 3)
	for i, id := range []string{"s1", "s2", "s3"} {
		cfgs[i] = tcpConfig(id, t.TempDir())
		cfgs[i].HeartbeatTimeout, cfgs[i].ElectionTimeout = time.Second, time.Second
	}
	stores := startCluster(t, cfgs...)
	leader := stores[0]
	mustApply(t, leader, command.SandboxCreate, create("sb_1"))

	// Wait until the leader has failed to reach both followers, so that
	// no answer they sent before stopping still counts as a vote.
	failed := make(chan raft.Observation, 8)
	obs := raft.NewObserver(failed, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.FailedHeartbeatObservation)
		return ok
	})
	leader.raft.RegisterObserver(obs)
	defer leader.raft.DeregisterObserver(obs)
	for _, s := range stores[1:] {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	unreached := map[raft.ServerID]bool{"s2": true, "s3": true}
	for len(unreached) > 0 {
		select {
		case o := <-failed:
			delete(unreached, o.Data.(raft.FailedHeartbeatObservation).PeerID)
		case <-time.After(waitTimeout):
			t.Fatalf("the leader still reaches %v", unreached)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start, leading := time.Now(), leader.IsLeader()
	_, err := leader.ReadIndex(ctx)
	t.Logf("ReadIndex failed after %v (still leading when called: %v): %v", time.Since(start), leading, err)
	if !errors.Is(err, ErrNotLeader) || apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("ReadIndex on a partitioned leader = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("ReadIndex took %v to fail", took)
	}
}
