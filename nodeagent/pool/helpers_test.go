package pool

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStarter is a Starter without runc: it tracks which slots are live.
// StartFunc and StopFunc, when set, run inside Start and Stop; a nil
// StartFunc starts at once.
type fakeStarter struct {
	StartFunc func(ctx context.Context, id string, key Key) error
	StopFunc  func(ctx context.Context, id string) error

	mu      sync.Mutex
	live    map[string]Key
	started map[string]int // Start calls per id
	stopped map[string]int // Stop calls per id
	starts  int
}

func newFakeStarter() *fakeStarter {
	return &fakeStarter{live: map[string]Key{}, started: map[string]int{}, stopped: map[string]int{}}
}

func (f *fakeStarter) Start(ctx context.Context, id string, key Key) error {
	f.mu.Lock()
	f.starts++
	f.started[id]++
	f.mu.Unlock()
	if f.StartFunc != nil {
		if err := f.StartFunc(ctx, id, key); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.live[id] = key
	f.mu.Unlock()
	return nil
}

func (f *fakeStarter) Stop(ctx context.Context, id string) error {
	f.mu.Lock()
	f.stopped[id]++
	delete(f.live, id)
	f.mu.Unlock()
	if f.StopFunc != nil {
		return f.StopFunc(ctx, id)
	}
	return nil
}

func (f *fakeStarter) liveIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.live))
	for id := range f.live {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (f *fakeStarter) startCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts
}

func (f *fakeStarter) stopCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped[id]
}

// fakeClock is a Config.Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	keyPy   = Key{Template: "python", Runtime: "RUNC", VCPUs: 1, MemoryMB: 100, DiskMB: 512}
	keyNode = Key{Template: "node", Runtime: "RUNC", VCPUs: 1, MemoryMB: 100, DiskMB: 512}
	keyBig  = Key{Template: "python", Runtime: "RUNC", VCPUs: 2, MemoryMB: 300, DiskMB: 512}
)

// mustNewPool returns a Pool over f with short intervals and a large
// memory budget unless cfg says otherwise, closed at the end of the test.
func mustNewPool(t testing.TB, f *fakeStarter, cfg Config) *Pool {
	t.Helper()
	cfg.Starter = f
	if cfg.MaxTotalMemoryMB == 0 {
		cfg.MaxTotalMemoryMB = 1 << 20
	}
	if cfg.Tick == 0 {
		cfg.Tick = 2 * time.Millisecond
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = time.Millisecond
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// waitFor polls cond until it holds or fails the test after 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func statsOf(p *Pool, k Key) PoolStats {
	for _, s := range p.Stats() {
		if s.Key == k {
			return s
		}
	}
	return PoolStats{}
}

func readyIs(p *Pool, k Key, n int) func() bool {
	return func() bool {
		s := statsOf(p, k)
		return s.Ready == n && s.Starting == 0 && s.Stopping == 0
	}
}

func closeNow(t testing.TB, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
