package meter

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/store/storetest"
	"github.com/codeint/codeint/controlplane/structs"
)

// BenchmarkReconcile1000 meters 1,000 sandboxes of random lifetimes (0 to
// 200 ms, on a clock compressed 1:100: 2 ms samples, 100 ms records) on the
// real clock, ships them through a sink that injects duplicates (a third
// of the rounds first send an earlier batch again, a quarter answer with a
// stale mark) into a real single-server Raft store, and reports how far
// each sandbox's billed seconds in the ledger are from its lifetime:
// p50, p99 and max of the absolute difference, in ms of the compressed
// clock, and the duplicates the ledger discarded. It runs once whatever
// -benchtime says.
func BenchmarkReconcile1000(b *testing.B) {
	st := storetest.Open(b, store.Config{})
	l, err := OpenLog(b.TempDir(), LogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	s := newFakeSampler()
	m, err := New(Config{NodeID: "n1", Log: l, Sampler: s, SampleEvery: 2 * time.Millisecond,
		Interval: 100 * time.Millisecond, CheckpointEvery: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}

	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(7, 11))
	var sent [][]structs.UsageRecord
	duplicates := 0
	ingest := func(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
		res, err := st.Apply(ctx, command.UsageIngest, command.UsageIngestRequest{NodeID: "n1", Records: recs, At: time.Now()})
		if err != nil {
			return 0, err
		}
		r := res.(*command.UsageIngestResult)
		mu.Lock()
		duplicates += r.Duplicates
		mu.Unlock()
		return r.Seq, nil
	}
	sink := SinkFunc(func(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
		mu.Lock()
		resend, stale := rnd.IntN(3) == 0, rnd.IntN(4) == 0
		var again []structs.UsageRecord
		if resend && len(sent) > 0 {
			again = sent[rnd.IntN(len(sent))]
		}
		sent = append(sent, slices.Clone(recs))
		mu.Unlock()
		if again != nil {
			if _, err := ingest(ctx, again); err != nil {
				return 0, err
			}
		}
		before := st.State().Snapshot().UsageMark("n1")
		mark, err := ingest(ctx, recs)
		if err == nil && stale {
			mark = 0
			if before != nil {
				mark = before.Seq
			}
		}
		return mark, err
	})
	sh, err := NewShipper(ShipperConfig{Log: l, Sink: sink, BatchInterval: 5 * time.Millisecond, BatchSize: 50})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loops.Go(func() { m.Run(ctx) })
	loops.Go(func() { sh.Run(ctx) })

	const sandboxes, workers = 1000, 50
	lifetimes := make(map[string]time.Duration, sandboxes)
	var lmu sync.Mutex
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range sandboxes / workers {
				id := fmt.Sprintf("sb-%d-%d", w, i)
				s.set(id, Sample{})
				start := time.Now()
				if err := m.Start(SandboxInfo{ID: id, TeamID: "t", VCPUs: 1, MemoryMB: 256, Start: start}); err != nil {
					b.Error(err)
					return
				}
				time.Sleep(time.Duration(r.IntN(200)) * time.Millisecond)
				end := time.Now()
				if _, err := m.Stop(id, end); err != nil {
					b.Error(err)
					return
				}
				lmu.Lock()
				lifetimes[id] = end.Sub(start)
				lmu.Unlock()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for l.Acked() < l.LastSeq() {
		if time.Now().After(deadline) {
			b.Fatalf("records unshipped after a minute: acked %d of %d", l.Acked(), l.LastSeq())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	loops.Wait()
	b.StopTimer()

	snap := st.State().Snapshot()
	var errs []float64
	for id, life := range lifetimes {
		su := snap.SandboxUsage(id)
		if su == nil || !su.Final {
			b.Fatalf("sandbox %s: no final usage in the ledger (%+v)", id, su)
		}
		errs = append(errs, math.Abs(su.SandboxSeconds-life.Seconds())*1000)
	}
	slices.Sort(errs)
	b.ReportMetric(errs[len(errs)/2], "err-p50-ms")
	b.ReportMetric(errs[len(errs)*99/100], "err-p99-ms")
	b.ReportMetric(errs[len(errs)-1], "err-max-ms")
	b.ReportMetric(float64(duplicates), "duplicates")
	b.ReportMetric(float64(l.LastSeq()), "records")
}
