package meter

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// fakeClock is a manual clock: Advance moves it and fires the tickers
// whose period elapsed.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
}

type fakeTicker struct {
	every time.Duration
	next  time.Time
	ch    chan time.Time
	done  bool
}

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{every: d, next: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	return t.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.done = true
	}
}

// Advance moves the clock by d; tickers drop ticks their reader has not
// taken yet, as time.Ticker does.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		for !t.done && !t.next.After(c.now) {
			select {
			case t.ch <- t.next:
			default:
			}
			t.next = t.next.Add(t.every)
		}
	}
}

// fakeSampler serves the samples the test sets.
type fakeSampler struct {
	mu      sync.Mutex
	samples map[string]Sample
	errs    map[string]error
	calls   map[string]int
	// step, when set, is called on every successful sample after it is
	// read (the race test's CPU counter).
	step func(id string, s *Sample)
}

func newFakeSampler() *fakeSampler {
	return &fakeSampler{samples: map[string]Sample{}, errs: map[string]error{}, calls: map[string]int{}}
}

func (f *fakeSampler) Sample(id string) (Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[id]++
	if err := f.errs[id]; err != nil {
		return Sample{}, err
	}
	s, ok := f.samples[id]
	if !ok {
		return Sample{}, fmt.Errorf("no sandbox %s", id)
	}
	if f.step != nil {
		next := s
		f.step(id, &next)
		f.samples[id] = next
	}
	return s, nil
}

func (f *fakeSampler) set(id string, s Sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples[id] = s
	delete(f.errs, id)
}

func (f *fakeSampler) fail(id string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[id] = err
}

// ledger is a fake control plane: it ingests a node's records exactly
// once by its high-water mark, as the real one does, and remembers every
// batch it was sent.
type ledger struct {
	mu       sync.Mutex
	mark     uint64
	records  []structs.UsageRecord // ingested, in order
	sent     map[uint64]int        // times each seq was received
	calls    int
	failures int // the next calls to fail
	take     int // >0: ingest at most this many per call
}

func newLedger() *ledger { return &ledger{sent: map[uint64]int{}} }

func (l *ledger) Ship(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	for _, r := range recs {
		l.sent[r.Seq]++
	}
	if l.failures > 0 {
		l.failures--
		return 0, fmt.Errorf("control plane unavailable")
	}
	taken := 0
	for _, r := range recs {
		if r.Seq <= l.mark {
			continue // a duplicate
		}
		if r.Seq != l.mark+1 {
			break // a gap: the rest waits
		}
		if l.take > 0 && taken == l.take {
			break
		}
		l.records = append(l.records, r)
		l.mark = r.Seq
		taken++
	}
	return l.mark, nil
}

func (l *ledger) snapshot() (uint64, []structs.UsageRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mark, slices.Clone(l.records)
}

func openLog(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := OpenLog(dir, LogOptions{CompactBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// allRecords returns the log's unacknowledged records.
func allRecords(t *testing.T, l *Log) []structs.UsageRecord {
	t.Helper()
	recs, err := l.Unacked(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func checkSeqs(t *testing.T, recs []structs.UsageRecord, from uint64) {
	t.Helper()
	for i, r := range recs {
		if r.Seq != from+uint64(i) {
			t.Fatalf("record %d has seq %d, want %d: %+v", i, r.Seq, from+uint64(i), recs)
		}
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
