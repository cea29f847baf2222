package state

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// TestMonthsFollowTheBuckets: a team's monthly totals are the sums of its
// hourly buckets as they are created and grown, month by month and team by
// team; a dump leaves them out and a restore rebuilds them.
func TestMonthsFollowTheBuckets(t *testing.T) {
	s := mustNew(t)
	oct := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
	nov := oct.Add(time.Hour)
	u := func(vcpu float64, recs int) structs.UsageTotals {
		return structs.UsageTotals{SandboxSeconds: vcpu, VCPUSeconds: vcpu, GiBSeconds: vcpu / 2, CPUSeconds: vcpu / 4,
			MaxVCPUSeconds: vcpu, MaxGiBSeconds: vcpu / 2, Records: recs}
	}
	put := func(index uint64, team string, hour time.Time, tot structs.UsageTotals) {
		write(t, s, index, func(w *WriteTxn) error {
			return w.UpsertUsageBucket(&structs.UsageBucket{ID: structs.BucketID(team, hour), TeamID: team, Hour: hour, UsageTotals: tot})
		})
	}
	put(1, "t1", oct, u(10, 1))
	put(2, "t1", nov, u(20, 1))
	put(3, "t1", nov.Add(5*time.Hour), u(5, 2))
	put(4, "t1", nov, u(30, 3)) // the same hour grown by a later batch
	put(5, "t2", nov, u(7, 1))

	check := func(what string, snap *Snapshot) {
		t.Helper()
		want := map[string]structs.UsageTotals{}
		for _, team := range []string{"t1", "t2"} {
			for _, b := range snap.UsageBuckets(team, time.Time{}, time.Unix(1<<40, 0)) {
				tot := want[structs.MonthID(team, b.Hour)]
				tot.Plus(b.UsageTotals, 1)
				want[structs.MonthID(team, b.Hour)] = tot
			}
		}
		got := map[string]structs.UsageTotals{}
		for _, team := range []string{"t1", "t2"} {
			var prev time.Time
			for _, m := range snap.UsageMonths(team) {
				if m.TeamID != team || !m.Month.After(prev) || m.Month != structs.MonthOf(m.Month) {
					t.Fatalf("%s: months of %s out of order or misnamed: %+v", what, team, m)
				}
				prev = m.Month
				got[m.ID] = m.UsageTotals
			}
		}
		if len(got) != 3 || len(got) != len(want) {
			t.Fatalf("%s: months %v, want %v", what, got, want)
		}
		for id, w := range want {
			g := got[id]
			if g.Records != w.Records || math.Abs(g.VCPUSeconds-w.VCPUSeconds) > 1e-9 || math.Abs(g.GiBSeconds-w.GiBSeconds) > 1e-9 ||
				math.Abs(g.MaxVCPUSeconds-w.MaxVCPUSeconds) > 1e-9 || math.Abs(g.CPUSeconds-w.CPUSeconds) > 1e-9 {
				t.Fatalf("%s: month %s = %+v, its buckets sum to %+v", what, id, g, w)
			}
		}
		if g := got[structs.MonthID("t1", nov)]; g.VCPUSeconds != 35 || g.Records != 5 {
			t.Fatalf("%s: t1's November = %+v, want 35 vCPU-s in 5 records", what, g)
		}
	}
	check("live", s.Snapshot())

	var buf bytes.Buffer
	if err := s.Snapshot().Dump(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(`"month":`)) {
		t.Fatalf("the dump holds the derived months: %s", buf.Bytes())
	}
	dst := mustNew(t)
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	check("restored", dst.Snapshot())
}
