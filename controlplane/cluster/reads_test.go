package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
)

// TestBarrier runs each consistency level on the leader and on a
// follower of a three-server region, then on a follower left alone.
func TestBarrier(t *testing.T) {
	nodes := formThree(t, nil)
	leader, followers := leaderOf(t, nodes)
	for _, n := range nodes {
		n.run(t)
	}
	f := followers[0]
	waitFor(t, "the follower to know the leader's RPC address", func() bool {
		_, ok := f.cluster.rpcAddr(leader.id)
		return ok
	})
	ctx := testCtx(t)

	for _, n := range nodes {
		for _, level := range []Consistency{Stale, Default, "", Linearizable} {
			if err := n.cluster.Barrier(ctx, level); err != nil {
				t.Errorf("%s, %q: %v", n.id, level, err)
			}
		}
		if err := n.cluster.Barrier(ctx, "BOGUS"); apperr.CodeOf(err) != apperr.InvalidArgument {
			t.Errorf("%s, unknown level: %v, want INVALID_ARGUMENT", n.id, err)
		}
	}

	// DEFAULT on a follower needs a contact within MaxStale; the leader
	// always may.
	strict := func(n *node) *Cluster {
		cfg := n.cluster.cfg
		cfg.MaxStale = time.Nanosecond
		return New(cfg)
	}
	if err := strict(f).Barrier(ctx, Default); apperr.CodeOf(err) != apperr.Unavailable || !contains(err, "not heard from the leader") {
		t.Errorf("follower, contact older than MaxStale: %v, want UNAVAILABLE", err)
	}
	if err := strict(leader).Barrier(ctx, Default); err != nil {
		t.Errorf("leader with a tiny MaxStale: %v", err)
	}

	// LINEARIZABLE on a follower sees every write the leader made
	// before the read began.
	for i := range 20 {
		id := fmt.Sprintf("t%d", i)
		if _, err := leader.store.Apply(ctx, command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: id}}); err != nil {
			t.Fatal(err)
		}
		if err := f.cluster.Barrier(ctx, Linearizable); err != nil {
			t.Fatal(err)
		}
		if f.store.State().Snapshot().TeamByID(id) == nil {
			t.Fatalf("after a linearizable barrier the follower does not see %s", id)
		}
	}

	// Alone, the follower soon knows no leader: DEFAULT and
	// LINEARIZABLE are refused, STALE still reads.
	leader.stop()
	followers[1].stop()
	waitFor(t, "the follower to lose the leader", func() bool { return f.store.LeaderID() == "" })
	if err := f.cluster.Barrier(ctx, Default); apperr.CodeOf(err) != apperr.Unavailable || !contains(err, "knows no leader") {
		t.Errorf("DEFAULT without a leader: %v, want UNAVAILABLE", err)
	}
	if err := f.cluster.Barrier(ctx, Stale); err != nil {
		t.Errorf("STALE without a leader: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := f.cluster.Barrier(short, Linearizable); !errors.Is(err, store.ErrNotLeader) || apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("LINEARIZABLE without a leader: %v, want UNAVAILABLE (not leader)", err)
	}
}
