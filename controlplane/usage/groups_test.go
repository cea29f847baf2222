package usage

import (
	"errors"
	"testing"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// totals are 60 sandbox-seconds of 1 vCPU and 512 MB: 975 micros at E2B's
// prices (60×14 + 30×4.5).
func totals() structs.UsageTotals {
	return structs.UsageTotals{SandboxSeconds: 60, VCPUSeconds: 60, GiBSeconds: 30, CPUSeconds: 12, MaxVCPUSeconds: 60, MaxGiBSeconds: 30, Records: 6}
}

func TestGroups(t *testing.T) {
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	h10 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	txn := st.WriteTxn(1)
	for _, b := range []*structs.UsageBucket{
		{ID: structs.BucketID("t1", h10), TeamID: "t1", Hour: h10, UsageTotals: totals()},
		{ID: structs.BucketID("t1", h10.Add(time.Hour)), TeamID: "t1", Hour: h10.Add(time.Hour), UsageTotals: totals()},
		{ID: structs.BucketID("t2", h10), TeamID: "t2", Hour: h10, UsageTotals: totals()},
	} {
		if err := txn.UpsertUsageBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, su := range []*structs.SandboxUsage{
		{ID: "sb_a", TeamID: "t1", Template: "base", First: h10, Last: h10.Add(time.Minute), UsageTotals: totals()},
		{ID: "sb_b", TeamID: "t1", Template: "data", First: h10.Add(time.Hour), Last: h10.Add(61 * time.Minute), UsageTotals: totals()},
		{ID: "sb_c", TeamID: "t1", Template: "base", First: h10.Add(-3 * time.Hour), Last: h10.Add(-2 * time.Hour), UsageTotals: totals()},
	} {
		if err := txn.UpsertSandboxUsage(su); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	svc := New(st, "", billing.DefaultPlan(), nil)
	from, to := h10, h10.Add(2*time.Hour)
	cases := []struct {
		by   string
		keys []string
		secs []float64
	}{
		{ByHour, []string{"2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z"}, []float64{60, 60}},
		{ByDay, []string{"2026-11-27T00:00:00Z"}, []float64{120}},
		{BySandbox, []string{"sb_a", "sb_b"}, []float64{60, 60}}, // sb_c has no usage in the period
		{ByTemplate, []string{"base", "data"}, []float64{60, 60}},
	}
	for _, c := range cases {
		groups, err := svc.Groups("t1", from, to, c.by)
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != len(c.keys) {
			t.Fatalf("%s: groups %+v, want keys %v", c.by, groups, c.keys)
		}
		for i, g := range groups {
			want := int64(975 * c.secs[i] / 60)
			if g.Key != c.keys[i] || g.SandboxSeconds != c.secs[i] || g.CostMicros != want {
				t.Fatalf("%s group %d: %+v, want key %s, %v s, %d micros", c.by, i, g, c.keys[i], c.secs[i], want)
			}
		}
	}
	if _, err := svc.Groups("t1", from, to, "WEEK"); !errors.Is(err, apperr.ErrInvalidArgument) {
		t.Fatalf("groupBy WEEK: %v, want INVALID_ARGUMENT", err)
	}
}
