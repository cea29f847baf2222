package store

import (
	"testing"
	"time"
)

// trimmingConfig keeps few entries after a snapshot and snapshots often,
// so that a server far enough behind can only catch up from a snapshot.
func trimmingConfig(id, dir string) Config {
	cfg := tcpConfig(id, dir)
	cfg.TrailingLogs = 4
	cfg.SnapshotThreshold = 8
	cfg.SnapshotInterval = 50 * time.Millisecond
	return cfg
}

// snapshotAndTrim snapshots the leader and checks that its log no longer
// starts after index; it returns the snapshot's index.
func snapshotAndTrim(t *testing.T, leader *Store, after uint64) uint64 {
	t.Helper()
	if err := leader.TakeSnapshot(); err != nil {
		t.Fatalf("TakeSnapshot: %v", err)
	}
	first, err := leader.wal.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= after+1 {
		t.Fatalf("the leader's log still starts at %d: entry %d can be sent from the log", first, after+1)
	}
	return raftStat(t, leader, "last_snapshot_index")
}

// waitInstalled waits until s records a snapshot at index or later: one
// it was sent, since it takes none of its own in these tests. (Raft records
// it just after the state machine has restored it.)
func waitInstalled(t *testing.T, s *Store, index uint64) {
	t.Helper()
	waitFor(t, s.NodeID()+" to install the leader's snapshot", func() bool {
		return raftStat(t, s, "last_snapshot_index") >= index
	})
}

// TestNewServerCatchesUpFromSnapshot: a server that joins after the log was
// trimmed is sent the snapshot, then the log after it.
func TestNewServerCatchesUpFromSnapshot(t *testing.T) {
	stores := startCluster(t, trimmingConfig("s1", t.TempDir()), trimmingConfig("s2", t.TempDir()))
	leader := stores[0]
	createMany(t, leader, "sb", 60)
	snapIndex := snapshotAndTrim(t, leader, 0)
	index, sum := mustHash(t, leader)

	// s3 keeps Raft's default thresholds: it takes no snapshot of its own.
	var rec recorder
	cfg := tcpConfig("s3", t.TempDir())
	cfg.OnSandboxEvent = rec.add
	s3 := startStore(t, cfg)
	if err := leader.Join("s3", s3.Addr()); err != nil {
		t.Fatalf("Join: %v", err)
	}
	waitSameState(t, index, sum, s3)
	waitInstalled(t, s3, snapIndex)
	// A snapshot restore emits no events: s3 replayed nothing it covers.
	for _, ev := range rec.get() {
		if ev.Index <= snapIndex {
			t.Fatalf("s3 applied entry %d from the log", ev.Index)
		}
	}
}

// TestLaggingFollowerCatchesUp: a follower stopped while the leader wrote
// and trimmed its log restarts from its own disk and is sent a snapshot.
func TestLaggingFollowerCatchesUp(t *testing.T) {
	cfgs := []Config{trimmingConfig("s1", t.TempDir()), trimmingConfig("s2", t.TempDir()), tcpConfig("s3", t.TempDir())}
	stores := startCluster(t, cfgs...)
	leader, s3 := stores[0], stores[2]
	waitIndex(t, s3, createMany(t, leader, "a", 3))
	s3Last := raftStat(t, s3, "last_log_index")
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}

	createMany(t, leader, "b", 60)
	snapIndex := snapshotAndTrim(t, leader, s3Last)
	index, sum := mustHash(t, leader)

	cfgs[2].BindAddr = s3.Addr() // the address the cluster knows
	s3 = startStore(t, cfgs[2])
	waitSameState(t, index, sum, s3)
	waitInstalled(t, s3, snapIndex)
}
