package meter

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

type errList struct {
	mu   sync.Mutex
	errs []error
}

func (e *errList) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *errList) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.errs)
}

func newMeter(t *testing.T, l *Log, c *fakeClock, s Sampler, errs *errList, cfg Config) *Meter {
	t.Helper()
	cfg.NodeID, cfg.Log, cfg.Sampler, cfg.Clock = "node-1", l, s, c
	if errs != nil {
		cfg.OnError = errs.add
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// advance moves the clock by d and runs one round, as Run does on a tick.
func advance(c *fakeClock, m *Meter, d time.Duration) {
	c.Advance(d)
	m.tick()
}

func approx(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestIntervalsCPUPeaksAndStop(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	c, s, errs := newFakeClock(), newFakeSampler(), &errList{}
	m := newMeter(t, l, c, s, errs, Config{})

	// a: CPU 5 s before it was metered, and a kernel peak of 500 from
	// then too (neither is its first interval's).
	s.set("a", Sample{CPU: 5 * time.Second, MemoryBytes: 100, PeakMemoryBytes: 500})
	if err := m.Start(SandboxInfo{ID: "a", TeamID: "t1", Template: "base", VCPUs: 2, MemoryMB: 512}); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(SandboxInfo{ID: "a"}); !errors.Is(err, ErrSandboxExists) {
		t.Fatalf("second Start: %v", err)
	}
	for i := 1; i <= 10; i++ {
		mem := int64(100)
		if i == 3 {
			mem = 300
		}
		s.set("a", Sample{CPU: 5*time.Second + time.Duration(i)*500*time.Millisecond, MemoryBytes: mem, PeakMemoryBytes: 500})
		if i == 2 {
			// b starts at t0+2s with CPU 1 s on its counter.
			s.set("b", Sample{CPU: time.Second, MemoryBytes: 1000, PeakMemoryBytes: 1000})
			if err := m.Start(SandboxInfo{ID: "b", TeamID: "t2", VCPUs: 1, MemoryMB: 256, Start: t0.Add(2 * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		if i == 5 {
			s.fail("b", errors.New("cgroup busy"))
		}
		if i == 7 {
			s.set("b", Sample{CPU: 2 * time.Second, MemoryBytes: 1000, PeakMemoryBytes: 1000})
		}
		advance(c, m, time.Second)
	}
	recs := allRecords(t, l)
	want1 := structs.UsageRecord{NodeID: "node-1", Seq: 1, SandboxID: "a", TeamID: "t1", Template: "base",
		Start: t0, End: t0.Add(10 * time.Second), VCPUs: 2, MemoryMB: 512, CPUSeconds: 5, PeakMemoryBytes: 300}
	if len(recs) != 1 || !sameRecord(recs[0], want1) {
		t.Fatalf("after 10 s: %+v, want %+v", recs, want1)
	}

	// Interval 2 of a: the kernel's peak rises to 900 between samples,
	// then the CPU counter is reset.
	s.set("a", Sample{CPU: 10*time.Second + 500*time.Millisecond, MemoryBytes: 150, PeakMemoryBytes: 900})
	advance(c, m, time.Second) // t0+11
	s.set("a", Sample{CPU: 250 * time.Millisecond, MemoryBytes: 120, PeakMemoryBytes: 900})
	s.set("b", Sample{CPU: 3 * time.Second, MemoryBytes: 1200, PeakMemoryBytes: 1500})
	advance(c, m, time.Second) // t0+12: b's first interval closes
	s.set("a", Sample{CPU: 750 * time.Millisecond, MemoryBytes: 120, PeakMemoryBytes: 900})
	advance(c, m, time.Second) // t0+13
	s.set("a", Sample{CPU: time.Second, MemoryBytes: 110, PeakMemoryBytes: 900})
	c.Advance(500 * time.Millisecond)
	final, err := m.Stop("a", c.Now())
	if err != nil {
		t.Fatal(err)
	}
	want3 := structs.UsageRecord{NodeID: "node-1", Seq: 3, SandboxID: "a", TeamID: "t1", Template: "base",
		Start: t0.Add(10 * time.Second), End: t0.Add(13500 * time.Millisecond), VCPUs: 2, MemoryMB: 512,
		CPUSeconds: 1.5, PeakMemoryBytes: 900, Final: true}
	if !sameRecord(final, want3) {
		t.Fatalf("Stop returned %+v, want %+v", final, want3)
	}
	if _, err := m.Stop("a", c.Now()); !errors.Is(err, ErrUnknownSandbox) {
		t.Fatalf("second Stop: %v", err)
	}
	s.set("b", Sample{CPU: 3500 * time.Millisecond, MemoryBytes: 1100, PeakMemoryBytes: 1500})
	c.Advance(500 * time.Millisecond)
	if _, err := m.Stop("b", time.Time{}); err != nil { // zero: now
		t.Fatal(err)
	}
	recs = allRecords(t, l)
	checkSeqs(t, recs, 1)
	want := []structs.UsageRecord{want1,
		{NodeID: "node-1", Seq: 2, SandboxID: "b", TeamID: "t2", Start: t0.Add(2 * time.Second), End: t0.Add(12 * time.Second),
			VCPUs: 1, MemoryMB: 256, CPUSeconds: 2, PeakMemoryBytes: 1500},
		want3,
		{NodeID: "node-1", Seq: 4, SandboxID: "b", TeamID: "t2", Start: t0.Add(12 * time.Second), End: t0.Add(14 * time.Second),
			VCPUs: 1, MemoryMB: 256, CPUSeconds: 0.5, PeakMemoryBytes: 1200, Final: true},
	}
	if len(recs) != len(want) {
		t.Fatalf("records %+v", recs)
	}
	for i := range want {
		if !sameRecord(recs[i], want[i]) {
			t.Errorf("record %d = %+v\nwant %+v", i, recs[i], want[i])
		}
	}
	if n := errs.len(); n != 1 { // b's failing samples, reported once
		t.Errorf("%d errors reported, want 1: %v", n, errs.errs)
	}
	if m.Running() != 0 {
		t.Errorf("%d sandboxes still metered", m.Running())
	}
}

func sameRecord(a, b structs.UsageRecord) bool {
	return a.NodeID == b.NodeID && a.Seq == b.Seq && a.SandboxID == b.SandboxID && a.TeamID == b.TeamID &&
		a.Template == b.Template && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.VCPUs == b.VCPUs &&
		a.MemoryMB == b.MemoryMB && approx(a.CPUSeconds, b.CPUSeconds) && a.PeakMemoryBytes == b.PeakMemoryBytes &&
		a.Final == b.Final
}

// A failed append leaves the interval open (the next round closes it,
// longer) and a failed Final record is retried until it is in the log.
func TestFailedAppendsAreRetried(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	c, s, errs := newFakeClock(), newFakeSampler(), &errList{}
	m := newMeter(t, l, c, s, errs, Config{Interval: 2 * time.Second})
	s.set("a", Sample{CPU: 0, MemoryBytes: 10})
	if err := m.Start(SandboxInfo{ID: "a", TeamID: "t"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	failing := true
	l.failWrite = func() error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("disk full")
		}
		return nil
	}
	setFailing := func(v bool) { mu.Lock(); failing = v; mu.Unlock() }
	s.set("a", Sample{CPU: time.Second, MemoryBytes: 10})
	advance(c, m, time.Second)
	s.set("a", Sample{CPU: 2 * time.Second, MemoryBytes: 10})
	advance(c, m, time.Second) // due, append fails
	if recs := allRecords(t, l); len(recs) != 0 {
		t.Fatalf("records after a failed append: %+v", recs)
	}
	setFailing(false)
	s.set("a", Sample{CPU: 3 * time.Second, MemoryBytes: 10})
	advance(c, m, time.Second) // closes [t0, t0+3s)
	setFailing(true)
	s.set("a", Sample{CPU: 4 * time.Second, MemoryBytes: 10})
	if _, err := m.Stop("a", t0.Add(3500*time.Millisecond)); err == nil {
		t.Fatal("Stop with a failing log succeeded")
	}
	if m.Running() != 1 {
		t.Fatal("a sandbox whose Final record failed is forgotten")
	}
	advance(c, m, time.Second) // retried, fails again
	setFailing(false)
	advance(c, m, time.Second)
	recs := allRecords(t, l)
	checkSeqs(t, recs, 1)
	if len(recs) != 2 || !recs[0].End.Equal(t0.Add(3*time.Second)) || recs[0].CPUSeconds != 3 || recs[0].Final ||
		!recs[1].Final || !recs[1].Start.Equal(t0.Add(3*time.Second)) || !recs[1].End.Equal(t0.Add(3500*time.Millisecond)) ||
		recs[1].CPUSeconds != 1 {
		t.Fatalf("records %+v", recs)
	}
	if m.Running() != 0 {
		t.Fatal("sandbox still metered")
	}
}

// The open interval of a sandbox that dies with the agent is closed, as
// Final at the last checkpoint, when the log is reopened, once.
func TestCheckpointClosedOnReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	c, s := newFakeClock(), newFakeSampler()
	m := newMeter(t, l, c, s, nil, Config{Interval: 10 * time.Second})
	s.set("a", Sample{CPU: time.Second, MemoryBytes: 10})
	if err := m.Start(SandboxInfo{ID: "a", TeamID: "t", VCPUs: 1, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		s.set("a", Sample{CPU: time.Duration(1+i) * time.Second, MemoryBytes: int64(10 * i)})
		advance(c, m, time.Second)
	}
	// The agent dies here (before the next checkpoint: the CPU time
	// since is not metered).
	s.set("a", Sample{CPU: 10 * time.Second, MemoryBytes: 99})
	c.Advance(500 * time.Millisecond)
	l.Close()
	old, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir)
	rec := l.Recovery()
	want := structs.UsageRecord{NodeID: "node-1", Seq: 1, SandboxID: "a", TeamID: "t", Start: t0, End: t0.Add(3 * time.Second),
		VCPUs: 1, MemoryMB: 128, CPUSeconds: 3, PeakMemoryBytes: 30, Final: true}
	if len(rec.Closed) != 1 || !sameRecord(rec.Closed[0], want) || rec.Stale != 0 {
		t.Fatalf("recovery %+v, want it to close %+v", rec, want)
	}
	if recs := allRecords(t, l); len(recs) != 1 || !sameRecord(recs[0], want) {
		t.Fatalf("log %+v", recs)
	}
	l.Close()

	// Reopened again: nothing left to close. Even with the old checkpoint
	// back (a crash right after the Final records were appended), the
	// records in the log mark its intervals stale.
	for _, restore := range []bool{false, true} {
		if restore {
			if err := os.WriteFile(filepath.Join(dir, checkpointName), old, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		l = openLog(t, dir)
		rec = l.Recovery()
		if len(rec.Closed) != 0 || rec.Stale != map[bool]int{false: 0, true: 1}[restore] || l.LastSeq() != 1 {
			t.Fatalf("reopen (old checkpoint back: %v): recovery %+v, last seq %d", restore, rec, l.LastSeq())
		}
		l.Close()
	}
}

// A crash between an interval's append and the next checkpoint must not
// count the interval twice.
func TestStaleCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	c, s := newFakeClock(), newFakeSampler()
	m := newMeter(t, l, c, s, nil, Config{Interval: 2 * time.Second, CheckpointEvery: time.Hour})
	s.set("a", Sample{CPU: time.Second})
	if err := m.Start(SandboxInfo{ID: "a", TeamID: "t"}); err != nil { // checkpointed at seq 0
		t.Fatal(err)
	}
	s.set("b", Sample{CPU: time.Second})
	if err := m.Start(SandboxInfo{ID: "b", TeamID: "t", Start: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	advance(c, m, time.Second) // b's interval is an hour old: closed (seq 1)
	advance(c, m, time.Second) // a's closes (seq 2); b's next one is 1 s old
	l.Close()
	l = openLog(t, dir)
	defer l.Close()
	if rec := l.Recovery(); len(rec.Closed) != 0 || rec.Stale != 2 || l.LastSeq() != 2 {
		t.Fatalf("recovery %+v, last seq %d", rec, l.LastSeq())
	}
}

// Run samples on the clock's ticks and checkpoints when it ends.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	c, s := newFakeClock(), newFakeSampler()
	m := newMeter(t, l, c, s, nil, Config{Interval: 3 * time.Second})
	s.set("a", Sample{})
	if err := m.Start(SandboxInfo{ID: "a", TeamID: "t"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.LastSeq() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no records closed by Run")
		}
		c.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	l.Close()
	l = openLog(t, dir)
	defer l.Close()
	rec := l.Recovery()
	if len(rec.Closed) != 1 || rec.Closed[0].Seq < 3 || !rec.Closed[0].End.Equal(c.Now()) {
		t.Fatalf("the checkpoint written when Run ended: %+v (now %v)", rec, c.Now())
	}
}
