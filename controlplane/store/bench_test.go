package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// benchStore opens a single-node store on local disk with default Raft
// timeouts and no automatic snapshots during the run.
func benchStore(b *testing.B) *Store {
	b.Helper()
	cfg := Config{NodeID: "bench", Dir: b.TempDir(), SnapshotInterval: time.Hour, SnapshotThreshold: 1 << 30}
	return mustOpen(b, cfg)
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkApply commits sandbox creates one after another: each waits for
// its own disk write.
func BenchmarkApply(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: fmt.Sprintf("sb_%d", i), TeamID: "team_a"}}
		if _, err := s.Apply(ctx, command.SandboxCreate, req); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkApplyParallel commits from many goroutines; Raft writes the
// queued commands in batches.
func BenchmarkApplyParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(64) // 64 × GOMAXPROCS callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("sb_%d", n.Add(1))
			req := &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: id, TeamID: "team_a"}}
			if _, err := s.Apply(ctx, command.SandboxCreate, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}
