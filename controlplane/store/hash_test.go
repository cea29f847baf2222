package store

import (
	"testing"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// TestStateHashAcrossServersAndRestart: servers that applied the same log
// report the same hash at the same index, and so does the cluster after a
// full restart (one server restoring from its snapshot).
func TestStateHashAcrossServersAndRestart(t *testing.T) {
	stores := startTCPCluster(t, 3)
	leader := stores[0]
	mustApply(t, leader, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a"}})
	mustApply(t, leader, command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "node_1"}})
	createMany(t, leader, "sb", 10)
	index := sandboxIndex(t, mustApply(t, leader, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb-003", At: t0, State: structs.SandboxRunning}))
	for _, s := range stores {
		waitIndex(t, s, index)
	}
	gotIndex, sum := mustHash(t, leader)
	if gotIndex != index || len(sum) != 64 {
		t.Fatalf("StateHash = %d, %q", gotIndex, sum)
	}
	for _, s := range stores[1:] {
		if i, got := mustHash(t, s); i != index || got != sum {
			t.Fatalf("%s reports %d %s, leader %d %s", s.NodeID(), i, got, index, sum)
		}
	}
	if err := stores[1].TakeSnapshot(); err != nil {
		t.Fatal(err)
	}

	// Restart every server on its directory and address.
	cfgs := make([]Config, len(stores))
	for i, s := range stores {
		cfgs[i] = s.cfg
		cfgs[i].BindAddr = s.Addr()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cfg := range cfgs {
		stores[i] = startStore(t, cfg)
	}
	waitSameState(t, index, sum, stores...)

	// A write moves every hash, together.
	var next *Store
	waitFor(t, "a leader after the restart", func() bool {
		for _, s := range stores {
			if s.IsLeader() {
				next = s
			}
		}
		return next != nil
	})
	index = sandboxIndex(t, mustApply(t, next, command.SandboxCreate, create("sb_new")))
	for _, s := range stores {
		waitIndex(t, s, index)
	}
	_, newSum := mustHash(t, next)
	if newSum == sum {
		t.Fatal("a write did not change the hash")
	}
	waitSameState(t, index, newSum, stores...)
}
