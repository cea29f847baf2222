package usage

import (
	"testing"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

func TestAccountChargesTheLedgerMonthByMonth(t *testing.T) {
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	plan := billing.DefaultPlan()
	plan.ID, plan.FreeVCPUSeconds = "trial", 60 // one free vCPU-minute a month
	txn := st.WriteTxn(1)
	for _, b := range []*structs.UsageBucket{
		{ID: structs.BucketID("t1", nov), TeamID: "t1", Hour: nov, UsageTotals: totals()},
		{ID: structs.BucketID("t1", nov.Add(time.Hour)), TeamID: "t1", Hour: nov.Add(time.Hour), UsageTotals: totals()},
		{ID: structs.BucketID("t1", dec), TeamID: "t1", Hour: dec, UsageTotals: totals()},
		{ID: structs.BucketID("t2", nov), TeamID: "t2", Hour: nov, UsageTotals: totals()},
	} {
		if err := txn.UpsertUsageBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.UpsertAccount(&billing.Account{TeamID: "t1", Plan: &plan,
		Limits:  &billing.Limits{SoftMicros: 1000, HardMicros: 0},
		Credits: []billing.Credit{{ID: "g", Kind: billing.EntryGrant, Micros: 1000}}}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	svc := New(st, "", billing.DefaultPlan(), nil)

	a, err := svc.Account("t1")
	if err != nil {
		t.Fatal(err)
	}
	// November: 120 vCPU-s (60 free) and 60 GiB-s: 60×14 + 60×4.5 = 1110
	// micros. December: 60 vCPU-s, all free, and 30 GiB-s: 135 micros.
	if a.Plan.ID != "trial" || a.Balance.ChargedMicros != 1245 || a.Balance.Micros != 1000-1245 {
		t.Fatalf("account: plan %s, balance %+v", a.Plan.ID, a.Balance)
	}
	if a.Budget.Status != billing.BudgetExhausted {
		t.Fatalf("a balance of -245 micros under a hard limit of 0: %+v", a.Budget)
	}
	// A team without an account: the default plan, no limits, never
	// exhausted however much it owes.
	b, err := svc.Account("t2")
	if err != nil {
		t.Fatal(err)
	}
	if b.Plan.ID != "default" || b.Balance.ChargedMicros != 975 || b.Budget.Status != billing.BudgetOK {
		t.Fatalf("team without an account: %+v", b)
	}
}

func TestLiveCostCountsWhatTheLedgerHasNotYetSeen(t *testing.T) {
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	txn := st.WriteTxn(1)
	for _, sb := range []*structs.Sandbox{
		{ID: "sb_run", TeamID: "t1", State: structs.SandboxRunning, VCPUs: 1, MemoryMB: 512, StartedAt: now.Add(-30 * time.Second)},
		{ID: "sb_done", TeamID: "t1", State: structs.SandboxStopped, VCPUs: 2, MemoryMB: 512, StartedAt: now.Add(-time.Hour), StoppedAt: now.Add(-50 * time.Minute)},
	} {
		if err := txn.UpsertSandbox(sb); err != nil {
			t.Fatal(err)
		}
	}
	// The ledger holds sb_run's first 20 s.
	if err := txn.UpsertSandboxUsage(&structs.SandboxUsage{ID: "sb_run", TeamID: "t1", First: now.Add(-30 * time.Second), Last: now.Add(-10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	svc := New(st, "", billing.DefaultPlan(), func() time.Time { return now })
	l, err := svc.Live("t1")
	if err != nil {
		t.Fatal(err)
	}
	// 10 s of 1 vCPU and 0.5 GiB: 10×14 + 5×4.5 = 162.5 micros, half up.
	if l.RunningSandboxes != 1 || l.UnmeteredMicros != 163 || l.BurnMicrosPerSecond != 16 || l.LiveBalanceMicros != -163 {
		t.Fatalf("live: running %d, unmetered %d, burn %d/s, live balance %d", l.RunningSandboxes, l.UnmeteredMicros, l.BurnMicrosPerSecond, l.LiveBalanceMicros)
	}
}

// TestAccountChargesEveryRegion: a team's account adds what the other
// regions reported to this region's ledger, month by month before the
// free allowance is taken, and leaves out this region's own report (its
// ledger is newer); a limit no single region reaches is reached by their
// sum.
func TestAccountChargesEveryRegion(t *testing.T) {
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	plan := billing.Plan{ID: "vcpu", Currency: "USD", VCPUSecondNanos: 1000, FreeVCPUSeconds: 50} // 1 micro per vCPU-second
	vcpu := func(v float64) structs.UsageTotals { return structs.UsageTotals{VCPUSeconds: v, MaxVCPUSeconds: v} }
	txn := st.WriteTxn(1)
	if err := txn.UpsertUsageBucket(&structs.UsageBucket{ID: structs.BucketID("t1", nov), TeamID: "t1", Hour: nov, UsageTotals: vcpu(40)}); err != nil {
		t.Fatal(err)
	}
	if err := txn.UpsertAccount(&billing.Account{TeamID: "t1", Plan: &plan, Limits: &billing.Limits{SoftMicros: 100, HardMicros: 0},
		Credits: []billing.Credit{{ID: "g", Kind: billing.EntryGrant, Micros: 100}}}); err != nil {
		t.Fatal(err)
	}
	for _, rep := range []structs.RegionReport{
		{Region: "eu", AsOf: 7, Months: []structs.RegionUsage{
			{Region: "eu", TeamID: "t1", Month: nov, UsageTotals: vcpu(60)},
			{Region: "eu", TeamID: "t1", Month: dec, UsageTotals: vcpu(70)}}},
		{Region: "us", AsOf: 9, Months: []structs.RegionUsage{ // this region's own report, older than its ledger
			{Region: "us", TeamID: "t1", Month: nov, UsageTotals: vcpu(1000)}}},
	} {
		if _, err := txn.ApplyRegionReport(rep, nov); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}

	// Seen from a third region, ap, us's report counts as well: 40 + 60 +
	// 1000 - 50 free in November, 70 - 50 in December.
	third, err := New(st, "ap", billing.DefaultPlan(), nil).Account("t1")
	if err != nil {
		t.Fatal(err)
	}
	if third.Balance.ChargedMicros != 1050+20 {
		t.Fatalf("seen from a third region: charged %d", third.Balance.ChargedMicros)
	}
	a, err := New(st, "us", billing.DefaultPlan(), nil).Account("t1")
	if err != nil {
		t.Fatal(err)
	}
	// November: 40 here + 60 in eu = 100, 50 free; December: 70, 50 free.
	if a.Balance.ChargedMicros != 50+20 || a.Budget.Status != billing.BudgetSoftLimit {
		t.Fatalf("us with eu's report: charged %d, budget %+v", a.Balance.ChargedMicros, a.Budget)
	}
	txn = st.WriteTxn(2)
	if _, err := txn.ApplyRegionReport(structs.RegionReport{Region: "eu", AsOf: 8, Months: []structs.RegionUsage{
		{Region: "eu", TeamID: "t1", Month: dec, UsageTotals: vcpu(110)}}}, dec); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := New(st, "us", billing.DefaultPlan(), nil).Budget("t1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != billing.BudgetExhausted || b.BalanceMicros != 100-50-60 {
		t.Fatalf("us once eu's December grew: %+v", b)
	}
}

// TestLiveCostTakesTheFreeAllowanceFirst: the running sandboxes' time not
// yet in the ledger costs only what it adds to the month's charge: nothing
// while the month's free allowance covers it, the rest at list price.
func TestLiveCostTakesTheFreeAllowanceFirst(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	plan := billing.Plan{ID: "free-minute", Currency: "USD", VCPUSecondNanos: 1_000_000, FreeVCPUSeconds: 60} // 1,000 micros a vCPU-second
	for _, tt := range []struct {
		metered float64 // vCPU-seconds of the month already in the ledger
		want    int64   // the unmetered 10 s of 1 vCPU
	}{
		{metered: 20, want: 0},          // 30 of the 60 free seconds used: all free
		{metered: 55, want: 5 * 1000},   // 5 free seconds left
		{metered: 100, want: 10 * 1000}, // the allowance used up
	} {
		st, err := state.New()
		if err != nil {
			t.Fatal(err)
		}
		txn := st.WriteTxn(1)
		for _, err := range []error{
			txn.UpsertSandbox(&structs.Sandbox{ID: "sb_run", TeamID: "t1", State: structs.SandboxRunning, VCPUs: 1, StartedAt: now.Add(-time.Hour)}),
			txn.UpsertSandboxUsage(&structs.SandboxUsage{ID: "sb_run", TeamID: "t1", First: now.Add(-time.Hour), Last: now.Add(-10 * time.Second)}),
			txn.UpsertUsageBucket(&structs.UsageBucket{ID: structs.BucketID("t1", now), TeamID: "t1", Hour: now,
				UsageTotals: structs.UsageTotals{VCPUSeconds: tt.metered, MaxVCPUSeconds: tt.metered}}),
			txn.UpsertAccount(&billing.Account{TeamID: "t1", Plan: &plan}),
			txn.Commit(),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		l, err := New(st, "", billing.DefaultPlan(), func() time.Time { return now }).Live("t1")
		if err != nil {
			t.Fatal(err)
		}
		if l.UnmeteredMicros != tt.want || l.BurnMicrosPerSecond != 1000 {
			t.Errorf("with %v vCPU-s metered: unmetered %d micros, burn %d/s; want %d and 1000", tt.metered, l.UnmeteredMicros, l.BurnMicrosPerSecond, tt.want)
		}
	}
}
