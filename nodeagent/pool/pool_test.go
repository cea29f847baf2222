package pool

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestNewValidates(t *testing.T) {
	f := newFakeStarter()
	for name, cfg := range map[string]Config{
		"no starter":  {MaxTotalMemoryMB: 100},
		"no memory":   {Starter: f},
		"bad prefix":  {Starter: f, MaxTotalMemoryMB: 100, IDPrefix: "-x"},
		"slash":       {Starter: f, MaxTotalMemoryMB: 100, IDPrefix: "a/b"},
		"no key mem":  {Starter: f, MaxTotalMemoryMB: 100, Pools: map[Key]Spec{{Template: "t"}: {Size: 1}}},
		"min > max":   {Starter: f, MaxTotalMemoryMB: 100, Pools: map[Key]Spec{keyPy: {Adaptive: true, Min: 3, Max: 2}}},
		"negative sz": {Starter: f, MaxTotalMemoryMB: 100, Pools: map[Key]Spec{keyPy: {Size: -1}}},
	} {
		if p, err := New(cfg); err == nil {
			closeNow(t, p)
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestFillsToTarget(t *testing.T) {
	f := newFakeStarter()
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 3}, keyNode: {Size: 2}}})
	waitFor(t, "python ready", readyIs(p, keyPy, 3))
	waitFor(t, "node ready", readyIs(p, keyNode, 2))
	time.Sleep(20 * time.Millisecond) // ten ticks: nothing more may start
	if n := f.startCount(); n != 5 {
		t.Errorf("starts = %d, want 5", n)
	}
	if got, want := p.Slots(), f.liveIDs(); !slices.Equal(got, want) {
		t.Errorf("Slots() = %v, live = %v", got, want)
	}
	for _, id := range p.Slots() {
		if !strings.HasPrefix(id, p.Prefix()) {
			t.Errorf("slot %q lacks prefix %q", id, p.Prefix())
		}
	}
	s := statsOf(p, keyPy)
	if s.Target != 3 || s.Desired != 3 || s.MemoryMB != 300 {
		t.Errorf("stats = %+v", s)
	}
}

func TestConcurrentClaimsAreDistinct(t *testing.T) {
	f := newFakeStarter()
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 20}}, MaxStartsPerPool: 4, MaxStarts: 4})
	waitFor(t, "ready", readyIs(p, keyPy, 20))

	const claimers, attempts = 100, 50
	var (
		mu      sync.Mutex
		claimed []string
		wg      sync.WaitGroup
	)
	for range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []string
			for range attempts {
				if id, ok := p.Claim(context.Background(), keyPy); ok {
					mine = append(mine, id)
				}
			}
			mu.Lock()
			claimed = append(claimed, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()

	seen := map[string]bool{}
	for _, id := range claimed {
		if seen[id] {
			t.Fatalf("slot %s handed out twice", id)
		}
		seen[id] = true
	}
	s := statsOf(p, keyPy)
	if s.Claims != claimers*attempts || s.Hits != uint64(len(claimed)) || s.Hits+s.Misses != s.Claims {
		t.Errorf("claims %d hits %d misses %d, handed out %d", s.Claims, s.Hits, s.Misses, len(claimed))
	}
	if len(claimed) < 20 {
		t.Errorf("only %d hits, want at least the 20 pre-started", len(claimed))
	}
	closeNow(t, p)
	// Every started slot was either claimed (and is still live: the pool
	// must not stop what it handed out) or stopped.
	slices.Sort(claimed)
	if live := f.liveIDs(); !slices.Equal(live, claimed) {
		t.Errorf("live after Close = %d slots, claimed = %d", len(live), len(claimed))
	}
	for _, id := range claimed {
		if n := f.stopCount(id); n != 0 {
			t.Errorf("claimed slot %s stopped %d times by the pool", id, n)
		}
	}
}

func TestClaimMissThenRefill(t *testing.T) {
	release := make(chan struct{})
	f := newFakeStarter()
	f.StartFunc = func(ctx context.Context, _ string, _ Key) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 2}}})

	begin := time.Now()
	if id, ok := p.Claim(context.Background(), keyPy); ok {
		t.Fatalf("Claim on an empty pool = %q, want a miss", id)
	}
	if d := time.Since(begin); d > 50*time.Millisecond {
		t.Errorf("a miss took %v: Claim must not wait for a start", d)
	}
	if _, ok := p.Claim(context.Background(), keyNode); ok {
		t.Fatal("Claim of a key without a pool succeeded")
	}
	s := statsOf(p, keyPy)
	if s.Misses != 1 || s.Hits != 0 || s.Claims != 1 {
		t.Errorf("after a miss: %+v", s)
	}
	waitFor(t, "starts in flight", func() bool { return statsOf(p, keyPy).Starting == 2 })
	close(release)
	waitFor(t, "refilled", readyIs(p, keyPy, 2))
	if _, ok := p.Claim(context.Background(), keyPy); !ok {
		t.Fatal("Claim after refill missed")
	}
	waitFor(t, "refilled after the hit", readyIs(p, keyPy, 2))
}

func TestStartErrorsBackOffAndRecover(t *testing.T) {
	clk := newFakeClock()
	var failing atomic.Bool
	failing.Store(true)
	f := newFakeStarter()
	f.StartFunc = func(context.Context, string, Key) error {
		if failing.Load() {
			return errors.New("runc: exec format error")
		}
		return nil
	}
	p := mustNewPool(t, f, Config{
		Pools:            map[Key]Spec{keyPy: {Size: 2}},
		MaxStartsPerPool: 1,
		BackoffMin:       time.Second,
		BackoffMax:       4 * time.Second,
		Now:              clk.Now,
	})
	// The loop sleeps in real time until a backoff ends; with a fake
	// clock the test runs the pass itself after moving time.
	advance := func(d time.Duration) { clk.Advance(d); p.pass() }
	attempts := func(n int) func() bool {
		return func() bool { s := statsOf(p, keyPy); return s.Failures == n && s.Starting == 0 }
	}
	waitFor(t, "first failure", attempts(1))
	time.Sleep(20 * time.Millisecond) // ten ticks, no fake time: no retry, no busy loop
	if n := f.startCount(); n != 1 {
		t.Fatalf("starts during backoff = %d, want 1", n)
	}
	s := statsOf(p, keyPy)
	if !strings.Contains(s.LastError, "exec format error") || !s.LastErrorAt.Equal(clk.Now()) {
		t.Errorf("LastError %q at %v", s.LastError, s.LastErrorAt)
	}

	// Backoff doubles: 1 s after the first error, 2 s after the second.
	advance(time.Second)
	waitFor(t, "second failure", attempts(2))
	advance(time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := f.startCount(); n != 2 {
		t.Fatalf("starts 1 s into a 2 s backoff = %d, want 2", n)
	}
	advance(time.Second)
	waitFor(t, "third failure", attempts(3))
	if live := f.liveIDs(); len(live) != 0 {
		t.Errorf("failed starts left %v", live)
	}

	failing.Store(false)
	advance(4 * time.Second)
	waitFor(t, "recovery", readyIs(p, keyPy, 2))
	s = statsOf(p, keyPy)
	if s.Failures != 0 || s.LastError == "" {
		t.Errorf("after recovery: Failures %d, LastError %q (kept for operators)", s.Failures, s.LastError)
	}
}

func TestFailedStartIsStopped(t *testing.T) {
	f := newFakeStarter()
	var failed sync.Map
	f.StartFunc = func(_ context.Context, id string, _ Key) error {
		if _, loaded := failed.LoadOrStore("first", id); !loaded {
			return errors.New("boom")
		}
		return nil
	}
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 1}}})
	waitFor(t, "ready", readyIs(p, keyPy, 1))
	id, _ := failed.Load("first")
	if n := f.stopCount(id.(string)); n != 1 {
		t.Errorf("failed slot stopped %d times, want 1 (cleanup)", n)
	}
}

func TestConcurrencyBounds(t *testing.T) {
	var (
		mu              sync.Mutex
		inFlight, peak  int
		perPool, peakPP = map[Key]int{}, 0
	)
	f := newFakeStarter()
	f.StartFunc = func(_ context.Context, _ string, k Key) error {
		mu.Lock()
		inFlight++
		perPool[k]++
		peak = max(peak, inFlight)
		peakPP = max(peakPP, perPool[k])
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		inFlight--
		perPool[k]--
		mu.Unlock()
		return nil
	}
	p := mustNewPool(t, f, Config{
		Pools:            map[Key]Spec{keyPy: {Size: 6}, keyNode: {Size: 6}, keyBig: {Size: 6}},
		MaxStartsPerPool: 2,
		MaxStarts:        3,
	})
	for _, k := range []Key{keyPy, keyNode, keyBig} {
		waitFor(t, "ready "+k.String(), readyIs(p, k, 6))
	}
	if peak > 3 || peakPP > 2 {
		t.Errorf("peak starts %d (cap 3), per pool %d (cap 2)", peak, peakPP)
	}
}

func TestResizeShrinksOldestFirst(t *testing.T) {
	f := newFakeStarter()
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 4}}, MaxStartsPerPool: 1})
	waitFor(t, "ready", readyIs(p, keyPy, 4))
	before := p.Slots()
	if err := p.Resize(keyPy, Spec{Size: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shrunk", readyIs(p, keyPy, 1))
	// Ids count up, so the newest sorts last (same length here).
	if got := p.Slots(); !slices.Equal(got, before[3:]) {
		t.Errorf("kept %v of %v, want the newest", got, before)
	}
	if err := p.Resize(keyPy, Spec{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "emptied", readyIs(p, keyPy, 0))
	if live := f.liveIDs(); len(live) != 0 {
		t.Errorf("live after Resize to zero: %v", live)
	}
	if s := statsOf(p, keyPy); s.Target != 0 {
		t.Errorf("target after Resize to zero = %d", s.Target)
	}
}

func TestDrainAndResume(t *testing.T) {
	f := newFakeStarter()
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 3}}})
	waitFor(t, "ready", readyIs(p, keyPy, 3))
	if err := p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live := f.liveIDs(); len(live) != 0 {
		t.Fatalf("live after Drain: %v", live)
	}
	if _, ok := p.Claim(context.Background(), keyPy); ok {
		t.Error("Claim on a drained pool succeeded")
	}
	time.Sleep(10 * time.Millisecond)
	if n := len(f.liveIDs()); n != 0 {
		t.Errorf("drained pool refilled %d slots", n)
	}
	p.Resume()
	waitFor(t, "ready after Resume", readyIs(p, keyPy, 3))
}

func TestCloseStopsEverythingButClaimed(t *testing.T) {
	f := newFakeStarter()
	// keyBig's starts complete only when cancelled, as a start that wins
	// the race with Close: the pool must stop that slot too.
	f.StartFunc = func(ctx context.Context, _ string, k Key) error {
		if k == keyBig {
			<-ctx.Done()
		}
		return nil
	}
	p, err := New(Config{
		Starter:          f,
		MaxTotalMemoryMB: 10_000,
		Tick:             2 * time.Millisecond,
		Pools:            map[Key]Spec{keyPy: {Size: 3}, keyNode: {Size: 2}, keyBig: {Size: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "python ready", readyIs(p, keyPy, 3))
	waitFor(t, "node ready", readyIs(p, keyNode, 2))
	waitFor(t, "big starting", func() bool { return statsOf(p, keyBig).Starting == 2 })
	a, _ := p.Claim(context.Background(), keyPy)
	b, _ := p.Claim(context.Background(), keyNode)

	closeNow(t, p)
	goleak.VerifyNone(t)

	want := []string{a, b}
	slices.Sort(want)
	if live := f.liveIDs(); !slices.Equal(live, want) {
		t.Errorf("live after Close = %v, want only the claimed %v", live, want)
	}
	if f.stopCount(a)+f.stopCount(b) != 0 {
		t.Error("Close stopped a claimed slot")
	}
	if s := p.Slots(); len(s) != 0 {
		t.Errorf("Slots after Close = %v", s)
	}
	if _, ok := p.Claim(context.Background(), keyPy); ok {
		t.Error("Claim after Close succeeded")
	}
	if err := p.Resize(keyPy, Spec{Size: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Resize after Close = %v, want ErrClosed", err)
	}
	closeNow(t, p) // idempotent
}

func TestCloseHonoursContext(t *testing.T) {
	release := make(chan struct{})
	f := newFakeStarter()
	f.StopFunc = func(context.Context, string) error { <-release; return nil }
	p := mustNewPool(t, f, Config{Pools: map[Key]Spec{keyPy: {Size: 1}}})
	waitFor(t, "ready", readyIs(p, keyPy, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck Stop = %v, want DeadlineExceeded", err)
	}
	close(release) // the cleanup's Close then finishes
}
