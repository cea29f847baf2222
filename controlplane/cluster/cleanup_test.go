package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// TestRecordProbeAndHealth: the server itself is always healthy; a
// server never reached counts its silence from the first failed probe,
// a later failure does not move that, and an answer does.
func TestRecordProbeAndHealth(t *testing.T) {
	c := New(Config{Self: structs.Server{ID: "s1"}})
	if h := c.Health(); len(h) != 1 || !h["s1"].Healthy || time.Since(h["s1"].LastContact) > time.Second {
		t.Fatalf("alone: %+v", h)
	}
	c.recordProbe("s2", false)
	first := c.Health()["s2"]
	if first.Healthy || first.LastContact.IsZero() || first.NodeID != "s2" {
		t.Fatalf("after a first failure: %+v", first)
	}
	waitFor(t, "the clock to move", func() bool { return time.Since(first.LastContact) > time.Millisecond })
	c.recordProbe("s2", false)
	if again := c.Health()["s2"]; !again.LastContact.Equal(first.LastContact) {
		t.Fatalf("a second failure moved the last contact: %v → %v", first.LastContact, again.LastContact)
	}
	c.recordProbe("s2", true)
	if ok := c.Health()["s2"]; !ok.Healthy || !ok.LastContact.After(first.LastContact) {
		t.Fatalf("after an answer: %+v", ok)
	}
	c.recordProbe("s2", false)
	if down := c.Health()["s2"]; down.Healthy || time.Since(down.LastContact) > time.Second {
		t.Fatalf("a failure after an answer: %+v", down)
	}
}

// TestCleanupKeepsAMajority: on the leader of three voters, a server
// unreachable for longer than DeadServerCleanup is removed only while
// the servers still healthy form a majority; a server silent for less,
// or never probed, stays.
func TestCleanupKeepsAMajority(t *testing.T) {
	nodes := formThree(t, nil)
	leader, followers := leaderOf(t, nodes)
	c := leader.cluster
	a, b := followers[0].id, followers[1].id
	ctx := testCtx(t)
	voters := func() []string { return peerIDs(t, leader) }
	all := voters()

	// Never probed: nothing is known to be dead.
	c.cfg.DeadServerCleanup = 50 * time.Millisecond
	c.cleanupOnce(ctx)
	if got := voters(); !slices.Equal(got, all) {
		t.Fatalf("removed without probes: %v", got)
	}

	// Both followers silent past the limit: the leader alone is no
	// majority of three, so nothing is removed.
	c.recordProbe(a, false)
	c.recordProbe(b, false)
	waitFor(t, "the silence to pass DeadServerCleanup", func() bool {
		h := c.Health()
		return time.Since(h[a].LastContact) > c.cfg.DeadServerCleanup && time.Since(h[b].LastContact) > c.cfg.DeadServerCleanup
	})
	c.cleanupOnce(ctx)
	if got := voters(); !slices.Equal(got, all) {
		t.Fatalf("removed with no healthy majority: %v", got)
	}

	// One follower answers again; the other has been silent, but not for
	// long enough.
	c.recordProbe(a, true)
	c.cfg.DeadServerCleanup = time.Hour
	c.cleanupOnce(ctx)
	if got := voters(); !slices.Equal(got, all) {
		t.Fatalf("removed before DeadServerCleanup: %v", got)
	}

	// Past the limit, with a healthy majority: b goes, from Raft, the
	// state and the health report.
	c.cfg.DeadServerCleanup = 50 * time.Millisecond
	c.cleanupOnce(ctx)
	want := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == b })
	if got := voters(); !slices.Equal(got, want) {
		t.Fatalf("voters %v, want %v", got, want)
	}
	if _, ok := c.Health()[b]; ok {
		t.Fatal("the removed server is still in the health report")
	}
}

// TestDeadServerIsRemoved runs the whole loop: the leader probes the
// recorded servers, and one that stops answering is removed once
// DeadServerCleanup has passed, from Raft and from the state.
func TestDeadServerIsRemoved(t *testing.T) {
	nodes := formThree(t, func(c *Config) { c.DeadServerCleanup = 400 * time.Millisecond })
	leader, followers := leaderOf(t, nodes)
	for _, n := range nodes {
		n.run(t)
	}
	waitFor(t, "every server to be recorded", func() bool { return slices.Equal(recorded(leader), records(nodes...)) })
	waitFor(t, "the leader's probes to reach both followers", func() bool {
		h := leader.cluster.Health()
		return h[followers[0].id].Healthy && h[followers[1].id].Healthy
	})
	dead, alive := followers[1], followers[0]
	dead.stop()
	waitFor(t, "the dead server to be removed", func() bool {
		return slices.Equal(peerIDs(t, leader), sortedIDs(leader, alive))
	})
	waitFor(t, "the dead server's record to go", func() bool { return slices.Equal(recorded(leader), records(leader, alive)) })
	// The survivors still form a region.
	if err := leader.cluster.Barrier(testCtx(t), Linearizable); err != nil {
		t.Fatal(err)
	}
}

func sortedIDs(ns ...*node) []string {
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.id)
	}
	slices.Sort(ids)
	return ids
}
