package pool

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestMemoryBoundUnderPressure(t *testing.T) {
	const budget = 1000
	clk := newFakeClock()
	f := newFakeStarter()
	var (
		mu      sync.Mutex
		peak    int
		pool    *Pool
		poolSet = make(chan struct{})
	)
	sample := func() {
		<-poolSet
		total := 0
		for _, s := range pool.Stats() {
			total += s.MemoryMB
		}
		mu.Lock()
		peak = max(peak, total)
		mu.Unlock()
	}
	// Sample inside every Start (the slot being started counts) and
	// every Stop (the slot being stopped still counts).
	f.StartFunc = func(context.Context, string, Key) error { sample(); return nil }
	f.StopFunc = func(context.Context, string) error { sample(); return nil }
	pool = mustNewPool(t, f, Config{
		MaxTotalMemoryMB: budget,
		Pools: map[Key]Spec{
			keyNode: {Size: 8},                         // fixed, wants 800 MB
			keyPy:   {Adaptive: true, Min: 0, Max: 20}, // idle, then a burst
		},
		Adaptive: AdaptiveConfig{HalfLife: time.Second, ShrinkDelay: time.Hour},
		Now:      clk.Now,
	})
	close(poolSet)
	waitFor(t, "node pool full", readyIs(pool, keyNode, 8))

	// A burst makes python want 20 (2000 MB): the 1000 MB are shared
	// equally, so node shrinks from 8 to 5 and python gets 5.
	for range 150 {
		pool.Claim(context.Background(), keyPy)
	}
	waitFor(t, "node shrunk to its share", readyIs(pool, keyNode, 5))
	waitFor(t, "python grown to its share", readyIs(pool, keyPy, 5))
	if s := statsOf(pool, keyPy); s.Desired != 20 || s.Target != 5 {
		t.Errorf("python: desired %d target %d, want 20 and 5", s.Desired, s.Target)
	}
	if s := statsOf(pool, keyNode); s.Desired != 8 || s.Target != 5 {
		t.Errorf("node: desired %d target %d, want 8 and 5", s.Desired, s.Target)
	}

	// A pool asking less than its share keeps all of it; python takes
	// the rest.
	if err := pool.Resize(keyNode, Spec{Size: 3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node at 3", readyIs(pool, keyNode, 3))
	waitFor(t, "python at 7", readyIs(pool, keyPy, 7))

	// Claimed slots leave the budget: python refills what it hands out.
	for range 4 {
		if _, ok := pool.Claim(context.Background(), keyPy); !ok {
			t.Fatal("claim missed")
		}
	}
	waitFor(t, "python refilled", readyIs(pool, keyPy, 7))

	mu.Lock()
	defer mu.Unlock()
	if peak > budget {
		t.Errorf("pools held %d MB, budget %d", peak, budget)
	}
	if peak < 900 {
		t.Errorf("peak %d MB: the test did not press on the budget", peak)
	}
}

func TestFairShare(t *testing.T) {
	d := func(want, mem int) demand { return demand{want: want, memMB: mem} }
	for _, tc := range []struct {
		name   string
		in     []demand
		budget int
		want   []int
	}{
		{"fits", []demand{d(3, 100), d(2, 100)}, 1000, []int{3, 2}},
		{"equal split", []demand{d(8, 100), d(20, 100)}, 1000, []int{5, 5}},
		{"small keeps all", []demand{d(3, 100), d(20, 100)}, 1000, []int{3, 7}},
		{"idle pool", []demand{d(0, 100), d(20, 100)}, 1000, []int{0, 10}},
		{"rounding leftover", []demand{d(10, 100), d(10, 100), d(10, 100)}, 1000, []int{4, 3, 3}},
		{"mixed sizes", []demand{d(10, 300), d(10, 100)}, 1000, []int{1, 7}},
		{"too big", []demand{d(1, 300)}, 200, []int{0}},
		{"none", nil, 1000, []int{}},
	} {
		got := fairShare(tc.in, tc.budget)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

func TestFairShareProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := r.IntN(6)
		in := make([]demand, n)
		for i := range in {
			in[i] = demand{want: r.IntN(30), memMB: 64 * (1 + r.IntN(16))}
		}
		budget := r.IntN(8000)
		got := fairShare(in, budget)
		used := 0
		for i, t := range got {
			used += t * in[i].memMB
		}
		level := waterLevel(in, budget)
		for i, ti := range got {
			need := in[i].want * in[i].memMB
			switch {
			case ti < 0 || ti > in[i].want:
				t.Fatalf("%v budget %d: target %d of want %d", in, budget, ti, in[i].want)
			case ti < in[i].want && budget-used >= in[i].memMB:
				t.Fatalf("%v budget %d → %v: memory left for an unsatisfied pool", in, budget, got)
			case float64(ti*in[i].memMB) <= min(float64(need), level)-float64(in[i].memMB)-1:
				// Max-min: every pool gets its want or the water level,
				// less at most one slot of rounding.
				t.Fatalf("%v budget %d → %v: pool %d below the water level %.0f", in, budget, got, i, level)
			}
		}
		if used > budget {
			t.Fatalf("%v budget %d → %v uses %d", in, budget, got, used)
		}
	}
}

// waterLevel is the continuous max-min share: the L with
// Σ min(want·mem, L) = budget, or +Inf when every want fits.
func waterLevel(in []demand, budget int) float64 {
	needs := make([]int, 0, len(in))
	for _, d := range in {
		if d.want > 0 {
			needs = append(needs, d.want*d.memMB)
		}
	}
	slices.Sort(needs)
	left := float64(budget)
	for i, n := range needs {
		share := left / float64(len(needs)-i)
		if float64(n) > share {
			return share
		}
		left -= float64(n)
	}
	return math.Inf(1)
}
