package pool

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestAdaptiveSize(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		rate     float64
		refill   time.Duration
		headroom float64
		lo, hi   int
		want     int
	}{
		{0, 100 * ms, 2, 0, 10, 0},
		{0, 100 * ms, 2, 1, 10, 1},          // Min holds at idle
		{0.02, 100 * ms, 2, 0, 10, 0},       // 0.004 expected claims per refill: idle
		{1, 100 * ms, 2, 0, 10, 1},          // 0.2 rounds up to one slot
		{10, 100 * ms, 2, 0, 10, 2},         // exactly 2, not 3 from float fuzz
		{10, 100 * ms, 2.5, 0, 10, 3},       // 2.5 → 3
		{20, 250 * ms, 2, 0, 100, 10},       // slower starts need more slots
		{1000, 100 * ms, 2, 0, 10, 10},      // clamped to Max
		{math.Inf(1), 100 * ms, 2, 0, 7, 7}, // never overflows
		{math.NaN(), 100 * ms, 2, 0, 7, 7},
	} {
		if got := adaptiveSize(tc.rate, tc.refill, tc.headroom, tc.lo, tc.hi); got != tc.want {
			t.Errorf("adaptiveSize(%v/s, %v, ×%v, [%d,%d]) = %d, want %d",
				tc.rate, tc.refill, tc.headroom, tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestRateEstimator(t *testing.T) {
	const hl = 5 * time.Second
	now := time.Unix(0, 0)
	var e rateEstimator
	if r := e.rate(now, hl); r != 0 {
		t.Fatalf("idle rate = %v", r)
	}
	// A steady 20/s for a minute reads as 20/s.
	for range 20 * 60 {
		now = now.Add(50 * time.Millisecond)
		e.observe(now, hl)
	}
	if r := e.rate(now, hl); math.Abs(r-20) > 1 {
		t.Errorf("steady 20/s reads %v", r)
	}
	// Without claims it halves every half-life.
	r0 := e.rate(now, hl)
	if r := e.rate(now.Add(hl), hl); math.Abs(r-r0/2) > 1e-9 {
		t.Errorf("after a half-life %v, want %v", r, r0/2)
	}
	// A burst of n at once reads n·ln2/halfLife.
	var b rateEstimator
	for range 10 {
		b.observe(now, hl)
	}
	if r, want := b.rate(now, hl), 10*math.Ln2/hl.Seconds(); math.Abs(r-want) > 1e-9 {
		t.Errorf("burst of 10 reads %v, want %v", r, want)
	}
}

func TestHysteresis(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var h hysteresis
	for i, step := range []struct{ s, n, want int }{
		{0, 2, 2},
		{1, 7, 7}, // rises at once
		{2, 3, 7}, // lower from 2 s on: held
		{5, 1, 7}, // 3 s lower, delay 4 s: held
		{6, 1, 1}, // 4 s lower: falls to the current size
		{7, 4, 4},
		{8, 2, 4},
		{9, 5, 5}, // a rise resets the lull
		{10, 2, 5},
		{13, 2, 5},
		{14, 2, 2},
	} {
		if got := h.apply(step.n, at(step.s), 4*time.Second); got != step.want {
			t.Errorf("step %d (t=%ds, n=%d) = %d, want %d", i, step.s, step.n, got, step.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 250*time.Millisecond, 30*time.Second
	for n, want := range map[int]time.Duration{1: lo, 2: 2 * lo, 3: 4 * lo, 7: 64 * lo, 8: hi, 1000: hi} {
		if got := backoff(n, lo, hi); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestAdaptiveFollowsBurstThenDecays(t *testing.T) {
	clk := newFakeClock()
	f := newFakeStarter()
	adaptive := AdaptiveConfig{HalfLife: time.Second, RefillTime: 100 * time.Millisecond, Headroom: 2, ShrinkDelay: 2 * time.Second}
	p := mustNewPool(t, f, Config{
		Pools:    map[Key]Spec{keyPy: {Adaptive: true, Min: 1, Max: 10}},
		Adaptive: adaptive,
		Now:      clk.Now,
	})
	waitFor(t, "Min slots while idle", readyIs(p, keyPy, 1))

	// 50 claims at one instant: rate 50·ln2/1s = 34.7/s, × 0.1 s × 2 = 6.9 → 7.
	for range 50 {
		p.Claim(context.Background(), keyPy)
	}
	want := adaptiveSize(50*math.Ln2, adaptive.RefillTime, adaptive.Headroom, 1, 10)
	if want != 7 {
		t.Fatalf("formula gives %d, test expects 7", want)
	}
	waitFor(t, "grown to 7", readyIs(p, keyPy, 7))
	if s := statsOf(p, keyPy); s.Desired != 7 || s.Target != 7 || s.Hits < 1 || s.Hits+s.Misses != 50 {
		t.Errorf("after the burst: %+v", s)
	}

	// Ten half-lives later the rate is ~0.03/s, but the target holds
	// until it has been lower for ShrinkDelay.
	clk.Advance(10 * time.Second)
	p.pass()
	time.Sleep(10 * time.Millisecond)
	if s := statsOf(p, keyPy); s.Target != 7 || s.Ready != 7 || s.ClaimRate > 0.05 {
		t.Errorf("inside ShrinkDelay: %+v", s)
	}
	clk.Advance(2 * time.Second)
	p.pass()
	waitFor(t, "decayed to Min", readyIs(p, keyPy, 1))
	if s := statsOf(p, keyPy); s.Target != 1 || s.Desired != 1 {
		t.Errorf("after decay: %+v", s)
	}
}
