package meter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// Sandboxes start and stop from many goroutines while the meter samples
// and closes on the real clock and the shipper ships to a control plane
// that fails, takes batches in part and answers stale marks. In the end
// the control plane has every record exactly once, numbered 1..N, each
// sandbox's records abut and end with one Final record, and the CPU time
// adds up to what the sampler handed out.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, LogOptions{CompactBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newFakeSampler()
	// Every read of a sandbox's counter finds 1 ms more than the last.
	s.step = func(id string, next *Sample) { next.CPU += time.Millisecond; next.MemoryBytes = rand.Int64N(1 << 20) }
	errs := &errList{}
	m, err := New(Config{NodeID: "node-1", Log: l, Sampler: s, OnError: errs.add,
		SampleEvery: 2 * time.Millisecond, Interval: 10 * time.Millisecond, CheckpointEvery: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var rmu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	lg := newLedger()
	flaky := SinkFunc(func(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
		rmu.Lock()
		r := rnd.IntN(4)
		rmu.Unlock()
		switch r {
		case 0:
			return 0, fmt.Errorf("timeout")
		case 1: // a stale answer: what the control plane had before
			mark, _ := lg.snapshot()
			lg.Ship(ctx, recs)
			return mark, nil
		}
		return lg.Ship(ctx, recs)
	})
	sh, err := NewShipper(ShipperConfig{Log: l, Sink: flaky, BatchInterval: 3 * time.Millisecond, BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loops.Go(func() { m.Run(ctx) })
	loops.Go(func() { sh.Run(ctx) })

	const workers, each = 8, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("sb-%d-%d", w, i)
				s.set(id, Sample{})
				if err := m.Start(SandboxInfo{ID: id, TeamID: fmt.Sprint("team-", w), VCPUs: 1, MemoryMB: 128}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
				if _, err := m.Stop(id, time.Time{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	loops.Wait()
	if m.Running() != 0 {
		t.Fatalf("%d sandboxes still metered", m.Running())
	}
	if errs.len() != 0 {
		t.Fatalf("errors: %v", errs.errs)
	}
	// Drain what the shipper had not acknowledged yet.
	last := l.LastSeq()
	for i := 0; l.Acked() < last; i++ {
		if i > 1000 {
			t.Fatalf("acked %d of %d", l.Acked(), last)
		}
		sh.Ship(context.Background())
	}
	mark, recs := lg.snapshot()
	checkSeqs(t, recs, 1)
	if mark != last || uint64(len(recs)) != last {
		t.Fatalf("ledger mark %d with %d records, log last %d", mark, len(recs), last)
	}
	bySandbox := map[string][]structs.UsageRecord{}
	for _, r := range recs {
		bySandbox[r.SandboxID] = append(bySandbox[r.SandboxID], r)
	}
	if len(bySandbox) != workers*each {
		t.Fatalf("%d sandboxes metered, want %d", len(bySandbox), workers*each)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, rs := range bySandbox {
		cpu := 0.0
		for i, r := range rs {
			if r.Final != (i == len(rs)-1) || i > 0 && !r.Start.Equal(rs[i-1].End) || r.End.Before(r.Start) {
				t.Fatalf("records of %s: %+v", id, rs)
			}
			cpu += r.CPUSeconds
		}
		// The first read (Start's) is the baseline.
		want := time.Duration(s.calls[id]-1) * time.Millisecond
		if d := secs(cpu) - want; d > time.Microsecond || d < -time.Microsecond {
			t.Fatalf("%s: CPU %v over %d records, want %v (%d reads)", id, secs(cpu), len(rs), want, s.calls[id])
		}
	}
	t.Logf("%d records, %d ship calls", len(recs), lg.calls)
}
