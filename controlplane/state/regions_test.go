package state

import (
	"bytes"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// TestRegionReportsApplyOnce: a region's report replaces the totals it
// names and keeps the others; a replay, or a report a later one overtook,
// changes nothing; reports and marks survive a dump and a restore.
func TestRegionReportsApplyOnce(t *testing.T) {
	s := mustNew(t)
	nov := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	at := nov.Add(time.Hour)
	row := func(team string, month time.Time, vcpu float64, asOf uint64) structs.RegionUsage {
		return structs.RegionUsage{Region: "eu", TeamID: team, Month: month, AsOf: asOf, UsageTotals: structs.UsageTotals{VCPUSeconds: vcpu}}
	}
	apply := func(index uint64, rep structs.RegionReport) bool {
		t.Helper()
		var applied bool
		write(t, s, index, func(w *WriteTxn) (err error) {
			applied, err = w.ApplyRegionReport(rep, at)
			return err
		})
		return applied
	}
	vcpu := func(snap *Snapshot, team string) map[string]float64 {
		out := map[string]float64{}
		for _, u := range snap.RegionUsages(team) {
			out[u.Month.Format("2006-01")] = u.VCPUSeconds
		}
		return out
	}

	first := structs.RegionReport{Region: "eu", AsOf: 10, Months: []structs.RegionUsage{row("t1", nov, 100, 10), row("t1", dec, 5, 10), row("t2", nov, 7, 10)}}
	if !apply(1, first) {
		t.Fatal("the first report was not applied")
	}
	// The next report names only what changed since: t1's December.
	if !apply(2, structs.RegionReport{Region: "eu", AsOf: 20, Months: []structs.RegionUsage{row("t1", dec, 9, 20)}}) {
		t.Fatal("a later report was not applied")
	}
	// The first again (a retry whose answer was lost), and one overtaken.
	if apply(3, first) || apply(4, structs.RegionReport{Region: "eu", AsOf: 15, Months: []structs.RegionUsage{row("t1", dec, 7, 15)}}) {
		t.Fatal("a stale report was applied")
	}
	snap := s.Snapshot()
	if got := vcpu(snap, "t1"); got["2026-11"] != 100 || got["2026-12"] != 9 || len(got) != 2 {
		t.Fatalf("t1's totals from eu: %v", got)
	}
	if got := vcpu(snap, "t2"); got["2026-11"] != 7 || len(got) != 1 {
		t.Fatalf("t2's totals from eu: %v", got)
	}
	if m := snap.RegionMark("eu"); m == nil || m.AsOf != 20 || !m.UpdatedAt.Equal(at) {
		t.Fatalf("eu's mark: %+v", m)
	}
	if u := snap.RegionUsages("t1")[0]; u.ID != structs.RegionUsageID("eu", "t1", nov) || !u.Month.Equal(structs.MonthOf(nov)) {
		t.Fatalf("a stored total is named %q for month %v", u.ID, u.Month)
	}

	var dump bytes.Buffer
	if err := snap.Dump(&dump); err != nil {
		t.Fatal(err)
	}
	r := mustNew(t)
	if err := r.Restore(bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	rs := r.Snapshot()
	if got := vcpu(rs, "t1"); got["2026-11"] != 100 || got["2026-12"] != 9 {
		t.Fatalf("t1's totals after a restore: %v", got)
	}
	if m := rs.RegionMark("eu"); m == nil || m.AsOf != 20 || len(rs.AllRegionUsages()) != 3 {
		t.Fatalf("after a restore: mark %+v, %d totals", m, len(rs.AllRegionUsages()))
	}
}
