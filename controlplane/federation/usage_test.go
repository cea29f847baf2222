package federation

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// regionVCPU is what a region's state holds of every region's usage: the
// vCPU-seconds of each (region, team, month) it was reported, and its own
// ledger's under its own name.
func regionVCPU(region string, st *state.Store) map[string]float64 {
	snap := st.Snapshot()
	out := map[string]float64{}
	for _, u := range snap.AllRegionUsages() {
		if u.Region != region {
			out[u.ID] = u.VCPUSeconds
		}
	}
	for _, m := range snap.AllUsageMonths() {
		out[structs.RegionUsageID(region, m.TeamID, m.Month)] = m.VCPUSeconds
	}
	return out
}

// TestUsageReportsReachEveryRegion: three regions report their monthly
// totals; the authoritative one holds everyone's and every other region
// gets the others' back, each total exactly once: an unchanged round
// commits nothing, a replayed report is stale, and a region cut off from
// the authoritative one meters on and catches up with one report. A
// region may report only its own usage.
func TestUsageReportsReachEveryRegion(t *testing.T) {
	a := startServer(t, "a", "a")
	b := startServer(t, "b", "a")
	c := startServer(t, "c", "a")
	b.probe(t, a.addr)
	c.probe(t, a.addr)
	a.probe(t, b.addr, c.addr)
	ctx := testCtx(t)
	nov := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	a.local.meter("t1", nov, 10)
	b.local.meter("t1", nov, 20)
	c.local.meter("t1", nov, 30)
	c.local.meter("t2", nov, 5)

	acked := map[*server]map[string]structs.UsageTotals{a: {}, b: {}, c: {}}
	report := func(s *server) {
		t.Helper()
		if err := s.fed.reportOnce(ctx, acked[s]); err != nil {
			t.Fatalf("region %s's report: %v", s.region, err)
		}
	}
	for _, s := range []*server{a, b, c, b} { // b twice: c's totals reach it on its second round
		report(s)
	}
	id := func(region, team string) string { return structs.RegionUsageID(region, team, nov) }
	want := map[string]float64{id("a", "t1"): 10, id("b", "t1"): 20, id("c", "t1"): 30, id("c", "t2"): 5}
	for _, s := range []*server{a, b, c} {
		got := regionVCPU(s.region, s.local.st)
		for id, v := range want {
			if got[id] != v {
				t.Errorf("region %s holds %s = %v, want %v (all: %v)", s.region, id, got[id], v, got)
			}
		}
	}
	for _, s := range []*server{b, c} {
		for _, u := range s.local.st.Snapshot().AllRegionUsages() {
			if u.Region == s.region {
				t.Errorf("region %s was sent its own total %s back", s.region, u.ID)
			}
		}
	}

	// Nothing changed: no report commits anything in a.
	before := len(a.local.recorded())
	report(b)
	report(a)
	if n := len(a.local.recorded()); n != before {
		t.Fatalf("an unchanged round committed %d reports in a", n-before)
	}

	// A replayed report (a retry whose answer was lost) is stale.
	old := structs.RegionReport{Region: "b", AsOf: 1, Months: []structs.RegionUsage{
		{Region: "b", TeamID: "t1", Month: nov, AsOf: 1, UsageTotals: structs.UsageTotals{VCPUSeconds: 999}}}}
	if _, err := b.fed.sendReport(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	if got := regionVCPU("a", a.local.st)[structs.RegionUsageID("b", "t1", nov)]; got != 20 {
		t.Fatalf("after a replay a holds b's t1 at %v vCPU-s, want 20", got)
	}

	// b is cut off from a: it meters on; its reports fail and are retried;
	// once a answers again one report carries all of it, once.
	a.local.setFail(func(command.Type, string) error { return apperr.New(apperr.Unavailable, "a is cut off") })
	for range 3 {
		b.local.meter("t1", nov, 7)
		if err := b.fed.reportOnce(ctx, acked[b]); apperr.CodeOf(err) != apperr.Unavailable {
			t.Fatalf("a report while cut off: %v, want UNAVAILABLE", err)
		}
	}
	a.local.setFail(nil)
	report(b)
	report(b)
	if got := regionVCPU("a", a.local.st)[structs.RegionUsageID("b", "t1", nov)]; got != 20+21 {
		t.Fatalf("after the cut a holds b's t1 at %v vCPU-s, want 41", got)
	}

	// A region reporting another's usage is refused.
	payload, _ := json.Marshal(structs.RegionReport{Region: "c", AsOf: 99})
	_, err := a.fed.ReportUsage(context.Background(), &serverpb.ReportUsageRequest{Caller: b.fed.caller(), Report: payload})
	if apperr.CodeOf(err) != apperr.InvalidArgument {
		t.Fatalf("b reporting c's usage: %v, want INVALID_ARGUMENT", err)
	}
	// A region that is not authoritative takes no reports.
	_, err = b.fed.ReportUsage(context.Background(), &serverpb.ReportUsageRequest{Caller: c.fed.caller(), Report: payload})
	if apperr.CodeOf(err) != apperr.FailedPrecondition {
		t.Fatalf("a report to a region that is not authoritative: %v, want FAILED_PRECONDITION", err)
	}
}
