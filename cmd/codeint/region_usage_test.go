package main

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestUsageExactlyOnceAcrossLeaderKill meters sandboxes on a region's agent
// while the leader, which commits the usage batches, is killed with
// SIGKILL: batches in flight are shipped again to the new leader, and in
// the end every sandbox's billed seconds match its lifecycle within 1 s
// (a batch counted twice would double them), none is missing.
func TestUsageExactlyOnceAcrossLeaderKill(t *testing.T) {
	r := startRegion(t, "ru", 3, true)
	ctx := ctxT(t, 3*time.Minute)
	var ids []string
	for range 6 {
		sb, err := r.liveClient(0).CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sb.ID)
	}
	time.Sleep(2 * time.Second)
	for _, id := range ids[:3] { // their final records are shipped as the leader dies
		if _, err := r.liveClient(0).TerminateSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	old := r.waitLeader(t, 10*time.Second)
	old.proc.stop(t, syscall.SIGKILL)
	eventually(t, 20*time.Second, "a new leader", func() error {
		if s := r.agreedLeader(); s == nil || s == old {
			return fmt.Errorf("no new leader yet")
		}
		return nil
	})
	time.Sleep(6 * time.Second) // the sandboxes left run on through a record and a batch
	for _, id := range ids[3:] {
		if _, err := r.liveClient(0).TerminateSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	old.proc.start(t)

	eventually(t, 90*time.Second, "every sandbox's usage in the ledger, exactly once", func() error {
		all, err := r.liveClient(0).ListSandboxes(ctx, "")
		if err != nil {
			return err
		}
		var sbs []*codeint.Sandbox // the harness's own sandboxes left out
		for _, sb := range all {
			if slices.Contains(ids, sb.ID) {
				sbs = append(sbs, sb)
			}
		}
		rep := reconcile(sbs)
		switch {
		case rep.Pending > 0:
			return fmt.Errorf("%d sandboxes without their final record", rep.Pending)
		case rep.Compared != len(ids):
			return fmt.Errorf("compared %d sandboxes, want %d", rep.Compared, len(ids))
		case len(rep.Outside) > 0:
			t.Fatalf("billed seconds off their lifecycle by more than 1 s: %+v", rep.Outside)
		}
		t.Logf("reconciled %d sandboxes: |diff| p50 %.3f s, max %.3f s", rep.Compared, rep.P50, rep.Max)
		return nil
	})
}
