package usage

import (
	"testing"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// BenchmarkAccountYearOfUsage reads the account of a team with a year of
// hourly usage (8,760 buckets): what every create's budget check and every
// budget sweep costs per team.
func BenchmarkAccountYearOfUsage(b *testing.B) {
	st, err := state.New()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	txn := st.WriteTxn(1)
	for h := range 365 * 24 {
		hour := start.Add(time.Duration(h) * time.Hour)
		if err := txn.UpsertUsageBucket(&structs.UsageBucket{ID: structs.BucketID("t1", hour), TeamID: "t1",
			Hour: hour, UsageTotals: totals()}); err != nil {
			b.Fatal(err)
		}
	}
	if err := txn.Commit(); err != nil {
		b.Fatal(err)
	}
	svc := New(st, "", billing.DefaultPlan(), nil)
	for b.Loop() {
		a, err := svc.Account("t1")
		if err != nil || a.Balance.ChargedMicros <= 0 {
			b.Fatalf("account: %+v, %v", a, err)
		}
	}
}
