package meter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

func newShipper(t *testing.T, l *Log, sink Sink, cfg ShipperConfig) *Shipper {
	t.Helper()
	cfg.Log, cfg.Sink = l, sink
	s, err := NewShipper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShipperRetriesUntilAcked(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, testRecords(7)...)
	lg := newLedger()
	lg.failures = 2
	s := newShipper(t, l, lg, ShipperConfig{BatchSize: 3})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if n, err := s.Ship(ctx); err == nil || n != 0 {
			t.Fatalf("round %d against a failing sink: %d, %v", i, n, err)
		}
		if l.Acked() != 0 {
			t.Fatal("acknowledged after a failure")
		}
	}
	if n, err := s.Ship(ctx); err != nil || n != 7 {
		t.Fatalf("Ship = %d, %v", n, err)
	}
	mark, recs := lg.snapshot()
	checkSeqs(t, recs, 1)
	if mark != 7 || len(recs) != 7 || l.Acked() != 7 {
		t.Fatalf("ledger mark %d, %d records, log acked %d", mark, len(recs), l.Acked())
	}
	// The first batch went three times, the same each time.
	if lg.sent[1] != 3 || lg.sent[3] != 3 || lg.sent[4] != 1 || lg.sent[7] != 1 {
		t.Fatalf("sent %v", lg.sent)
	}
	if n, err := s.Ship(ctx); err != nil || n != 0 || lg.calls != 5 {
		t.Fatalf("nothing left: Ship = %d, %v after %d calls", n, err, lg.calls)
	}
}

func TestShipperPartialAcks(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, testRecords(5)...)
	lg := newLedger()
	lg.take = 2
	s := newShipper(t, l, lg, ShipperConfig{BatchSize: 10})
	if n, err := s.Ship(context.Background()); err != nil || n != 5 {
		t.Fatalf("Ship = %d, %v", n, err)
	}
	mark, recs := lg.snapshot()
	checkSeqs(t, recs, 1)
	// 1..5 taken 1-2, then 3..5 taken 3-4, then 5.
	if mark != 5 || lg.calls != 3 || lg.sent[1] != 1 || lg.sent[3] != 2 || lg.sent[5] != 3 {
		t.Fatalf("mark %d, calls %d, sent %v", mark, lg.calls, lg.sent)
	}
}

func TestShipperMarks(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, testRecords(5)...)
	ctx := context.Background()
	mark := func(m uint64, err error) Sink {
		return SinkFunc(func(context.Context, []structs.UsageRecord) (uint64, error) { return m, err })
	}
	// A mark just below the batch (the control plane took none of it):
	// nothing is acknowledged, the batch goes again next time.
	if _, err := newShipper(t, l, mark(0, nil), ShipperConfig{}).Ship(ctx); err == nil || l.Acked() != 0 {
		t.Fatalf("sink that took none: %v, acked %d", err, l.Acked())
	}
	if _, err := newShipper(t, l, mark(9, nil), ShipperConfig{}).Ship(ctx); !errors.Is(err, ErrSinkAhead) || l.Acked() != 0 {
		t.Fatalf("sink ahead: %v, acked %d", err, l.Acked())
	}
	// The control plane has more than the batch, not more than the log:
	// an earlier Ack was lost (a power loss reverted acked.json).
	if n, err := newShipper(t, l, mark(2, nil), ShipperConfig{BatchSize: 1}).Ship(ctx); err == nil || n != 2 || l.Acked() != 2 {
		t.Fatalf("mark past the batch: Ship = %d, %v, acked %d", n, err, l.Acked())
	}
	// A full batch taken: the next batch goes at once, and is not taken.
	if n, err := newShipper(t, l, mark(3, nil), ShipperConfig{BatchSize: 1}).Ship(ctx); err == nil || n != 1 || l.Acked() != 3 {
		t.Fatalf("Ship = %d, %v, acked %d", n, err, l.Acked())
	}
	if _, err := newShipper(t, l, mark(1, nil), ShipperConfig{}).Ship(ctx); !errors.Is(err, ErrSinkBehind) || l.Acked() != 3 {
		t.Fatalf("sink behind: %v, acked %d", err, l.Acked())
	}
}

func TestShipperRun(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, testRecords(4)...)
	lg := newLedger()
	lg.failures = 1
	c := newFakeClock()
	errs := &errList{}
	s := newShipper(t, l, lg, ShipperConfig{Clock: c, BatchInterval: 2 * time.Second, OnError: errs.add})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.Acked() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("Run shipped nothing: ledger calls %d", lg.calls)
		}
		c.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if errs.len() != 1 {
		t.Fatalf("errors reported: %v", errs.errs)
	}
}

// TestShipperKick: a kick ships at once, without waiting for a tick of the
// (here frozen) clock, and kicks close together make one batch.
func TestShipperKick(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	lg := newLedger()
	s := newShipper(t, l, lg, ShipperConfig{Clock: newFakeClock(), BatchInterval: time.Hour, KickDelay: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	recs := testRecords(3)
	for _, r := range recs {
		mustAppend(t, l, r)
		s.Kick()
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Acked() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("kicked records not shipped: ledger calls %d", lg.calls)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if lg.calls != 1 {
		t.Fatalf("three kicks within the delay made %d batches, want 1", lg.calls)
	}
}
