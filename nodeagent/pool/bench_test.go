package pool

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkClaim measures Claim alone: "hit" hands out pre-started slots
// (the refill loop is held back by starts that never finish, and the
// ready list is topped up with the timer stopped), "miss" claims from an
// empty pool. Both include the wake-up of the refill loop.
func BenchmarkClaim(b *testing.B) {
	const batch = 4096
	b.Run("hit", func(b *testing.B) {
		p, pl := blockedPool(b, batch+2)
		ids := make([]string, batch)
		p.mu.Lock()
		for i := range ids {
			ids[i] = p.newIDLocked()
		}
		p.mu.Unlock()
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i%batch == 0 {
				b.StopTimer()
				p.mu.Lock()
				pl.ready = append(pl.ready[:0], ids...)
				p.mu.Unlock()
				b.StartTimer()
			}
			if _, ok := p.Claim(ctx, keyPy); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		p := mustNewPool(b, newFakeStarter(), Config{Pools: map[Key]Spec{keyPy: {}}, Tick: time.Hour})
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, ok := p.Claim(ctx, keyPy); ok {
				b.Fatal("hit")
			}
		}
	})
}

// BenchmarkRefill measures the pool end to end: one op is one warm slot
// delivered to a claimer, who claims again (yielding) until it hits, from
// a 32-slot pool whose Starter returns at once. ns/op is then the pool's
// own overhead per slot (claim, refill pass, start goroutine, locking),
// which a real start (~90 ms) dwarfs; misses/op shows how often a claimer
// outran the refill.
func BenchmarkRefill(b *testing.B) {
	p := mustNewPool(b, newFakeStarter(), Config{
		Pools:            map[Key]Spec{keyPy: {Size: 32}},
		MaxStartsPerPool: 2,
		MaxStarts:        2,
		Tick:             time.Hour,
	})
	waitFor(b, "ready", readyIs(p, keyPy, 32))
	before := statsOf(p, keyPy)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for {
			if _, ok := p.Claim(ctx, keyPy); ok {
				break
			}
			runtime.Gosched()
		}
	}
	b.StopTimer()
	s := statsOf(p, keyPy)
	b.ReportMetric(float64(s.Misses-before.Misses)/float64(b.N), "misses/op")
}

// blockedPool returns a pool of keyPy with target size whose two starts in
// flight never finish, so nothing refills it behind the benchmark's back.
func blockedPool(b *testing.B, size int) (*Pool, *pool) {
	f := newFakeStarter()
	f.StartFunc = func(ctx context.Context, _ string, _ Key) error { <-ctx.Done(); return ctx.Err() }
	p := mustNewPool(b, f, Config{
		Pools:            map[Key]Spec{keyPy: {Size: size}},
		MaxStartsPerPool: 2,
		MaxStarts:        2,
		Tick:             time.Hour,
	})
	waitFor(b, "starts in flight", func() bool { return statsOf(p, keyPy).Starting == 2 })
	p.mu.Lock()
	defer p.mu.Unlock()
	return p, p.pools[keyPy]
}
