package store

import (
	"context"
	"fmt"
	"slices"
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
// its own disk write. The percentiles of one commit are the floor under a
// warm create's latency, which commits once.
func BenchmarkApply(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: fmt.Sprintf("sb_%d", i), TeamID: "team_a"}}
		begin := time.Now()
		if _, err := s.Apply(ctx, command.SandboxCreate, req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(begin))
	}
	reportRate(b)
	slices.Sort(took)
	for _, p := range []float64{0.50, 0.99} {
		b.ReportMetric(float64(took[int(p*float64(len(took)-1))].Microseconds())/1000, fmt.Sprintf("commit-p%.0f-ms", p*100))
	}
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

// BenchmarkUsageIngest commits usage batches of 1,000 records (100
// sandboxes of 10 teams, 10 s records) from 8 nodes in turn, each batch
// one Raft entry through the ledger; records/s is what the ledger takes.
func BenchmarkUsageIngest(b *testing.B) {
	const batch, nodes = 1000, 8
	s := benchStore(b)
	ctx := context.Background()
	seqs := make([]uint64, nodes)
	recs := make([]structs.UsageRecord, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		node := i % nodes
		nodeID := fmt.Sprintf("n%d", node)
		for j := range recs {
			seqs[node]++
			start := t0.Add(time.Duration(seqs[node]/100) * 10 * time.Second)
			sb := j % 100
			recs[j] = structs.UsageRecord{NodeID: nodeID, Seq: seqs[node], SandboxID: fmt.Sprintf("sb_%d_%d", node, sb),
				TeamID: fmt.Sprintf("team_%d", sb%10), Start: start, End: start.Add(10 * time.Second), VCPUs: 1, MemoryMB: 512,
				CPUSeconds: 2.5, PeakMemoryBytes: 64 << 20}
		}
		res, err := s.Apply(ctx, command.UsageIngest, &command.UsageIngestRequest{NodeID: nodeID, Records: recs, At: t0.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		if r := res.(*command.UsageIngestResult); r.Applied != batch {
			b.Fatalf("batch %d: %+v", i, r)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
