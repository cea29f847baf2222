package main

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFailover measures leader failover in a region of three real
// servers: kill -9 the leader, time until the two left agree on a new one
// (polled every 10 ms), then restart the killed server and wait until all
// three hold the same state before the next round. Run it with
// -benchtime 10x; it reports the median and the worst failover.
func BenchmarkFailover(b *testing.B) {
	r := startRegion(b, "bf", 3, false)
	rpc := r.rpc()
	var took []time.Duration
	for b.Loop() {
		old := r.waitLeader(b, 30*time.Second)
		killed := time.Now()
		old.proc.stop(b, syscall.SIGKILL)
		for {
			if s := rpc.agreedLeader(); s != nil && s != old {
				break
			}
			if time.Since(killed) > 30*time.Second {
				b.Fatalf("no new leader within 30 s of killing %s", old.id)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(killed))

		b.StopTimer()
		old.proc.start(b)
		r.waitLeader(b, 60*time.Second)
		r.waitSameState(b, 60*time.Second)
		b.StartTimer()
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[(len(took)-1)/2]), "failover-p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "failover-max-ms")
}
