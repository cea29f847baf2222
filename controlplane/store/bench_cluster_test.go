package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// BenchmarkClusterApply commits sandbox creates on the leader of a cluster
// of three servers over loopback TCP, each with its own data dir (raft-wal
// with fsync) and Raft's default timeouts. Many goroutines apply at once,
// so Raft batches them into shared disk writes and AppendEntries; a commit
// waits for the leader's write and one follower's. It reports commits/s
// and the commit latency seen by each caller (p50, p99), with 64 and with
// 256 callers (on 2 cores): more callers, bigger batches, more commits per
// second, longer waits.
func BenchmarkClusterApply(b *testing.B) {
	for _, perCPU := range []int{32, 128} {
		b.Run(fmt.Sprintf("callers=%dxCPU", perCPU), func(b *testing.B) { benchClusterApply(b, perCPU) })
	}
}

func benchClusterApply(b *testing.B, perCPU int) {
	cfgs := make([]Config, 3)
	for i := range cfgs {
		cfgs[i] = Config{NodeID: fmt.Sprintf("s%d", i+1), Dir: b.TempDir(), BindAddr: "127.0.0.1:0",
			SnapshotInterval: time.Hour, SnapshotThreshold: 1 << 30}
	}
	stores := startCluster(b, cfgs...)
	leader := stores[0]
	// Every follower has caught up with the joins before the clock starts.
	index := sandboxIndex(b, mustApply(b, leader, command.SandboxCreate, create("warmup")))
	for _, s := range stores[1:] {
		waitIndex(b, s, index)
	}

	ctx := context.Background()
	var (
		n         atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetParallelism(perCPU) // perCPU × GOMAXPROCS callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			id := fmt.Sprintf("sb_%d", n.Add(1))
			req := &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: id, TeamID: "team_a"}}
			start := time.Now()
			if _, err := leader.Apply(ctx, command.SandboxCreate, req); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(latencies))/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
