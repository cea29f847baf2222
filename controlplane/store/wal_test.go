package store

import (
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestLogReopensAfterTailTruncation: a follower whose tail a new leader
// overwrites has its last entries deleted (Raft's "clearing log suffix");
// the log must still open after a restart, with the kept entries readable
// and the next entries appendable. raft-wal v0.4.0 failed the reopen with
// "sealed segment has no index block", and the server panicked in
// raft.NewRaft.
func TestLogReopensAfterTailTruncation(t *testing.T) {
	dir := t.TempDir()
	reopen := func(step string) (*trimmedLog, func()) {
		t.Helper()
		w, meta, err := openLog(dir, hclog.NewNullLogger())
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return &trimmedLog{w}, func() {
			if err := w.Close(); err != nil {
				t.Errorf("%s: close log: %v", step, err)
			}
			if err := meta.Close(); err != nil {
				t.Errorf("%s: close meta: %v", step, err)
			}
		}
	}
	entries := func(from, to, term uint64) []*raft.Log {
		var out []*raft.Log
		for i := from; i <= to; i++ {
			out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d term %d", i, term)})
		}
		return out
	}
	expect := func(l *trimmedLog, step string, last, lastTerm uint64) {
		t.Helper()
		if got, err := l.LastIndex(); err != nil || got != last {
			t.Fatalf("%s: last index %d (%v), want %d", step, got, err, last)
		}
		for i := uint64(1); i <= last; i++ {
			var e raft.Log
			if err := l.GetLog(i, &e); err != nil {
				t.Fatalf("%s: entry %d: %v", step, i, err)
			}
			if i == last && e.Term != lastTerm {
				t.Fatalf("%s: entry %d has term %d, want %d", step, i, e.Term, lastTerm)
			}
		}
	}

	l, closeLog := reopen("first open")
	if err := l.StoreLogs(entries(1, 90, 1)); err != nil {
		t.Fatal(err)
	}
	// The new leader does not have entry 90: Raft deletes it.
	if err := l.DeleteRange(90, 90); err != nil {
		t.Fatalf("truncate the tail: %v", err)
	}
	expect(l, "after the truncation", 89, 1)
	closeLog()

	l, closeLog = reopen("reopen after the truncation")
	expect(l, "reopened", 89, 1)
	if err := l.StoreLogs(entries(90, 95, 2)); err != nil {
		t.Fatalf("append after the truncation: %v", err)
	}
	closeLog()

	l, closeLog = reopen("second reopen")
	defer closeLog()
	expect(l, "reopened after the new entries", 95, 2)
}
