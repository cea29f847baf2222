package storetest

import (
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/store"
)

// Open opens a store with cfg, bootstraps it as a cluster of one and waits
// until it leads; it is closed when the test ends. Unset fields of cfg get
// test values: node id "s1", a directory of the test's, and Raft timeouts
// of 100 ms.
func Open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = "s1"
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 100 * time.Millisecond
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = 100 * time.Millisecond
	}
	s, err := store.New(cfg)
	if err != nil {
		t.Fatalf("store.New: %v", err)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Bootstrap(); err != nil {
		t.Fatalf("bootstrap the store: %v", err)
	}
	if err := s.WaitForLeader(10 * time.Second); err != nil {
		t.Fatalf("the store did not lead: %v", err)
	}
	return s
}
