package billing

import (
	"errors"
	"testing"
)

func TestAccountChanges(t *testing.T) {
	var a Account
	plan := planWith(func(p *Plan) { p.ID, p.VCPUSecondNanos = "pro", 20_000 })
	a, changed, err := a.With(AccountChange{Plan: &plan}, t0)
	if err != nil || !changed || a.PlanOr(DefaultPlan()).ID != "pro" || !a.UpdatedAt.Equal(t0) {
		t.Fatalf("set plan: %+v %v %v", a, changed, err)
	}
	a, _, err = a.With(AccountChange{Limits: &Limits{SoftMicros: 1_000_000, HardMicros: 0}}, t0)
	if err != nil || a.Limits == nil || a.Limits.SoftMicros != 1_000_000 {
		t.Fatalf("set limits: %+v %v", a, err)
	}
	grant := Credit{ID: "c1", Kind: EntryGrant, Micros: 5_000_000, At: t0}
	a, changed, err = a.With(AccountChange{Credit: &grant}, t0)
	if err != nil || !changed || len(a.Credits) != 1 {
		t.Fatalf("add credit: %+v %v %v", a, changed, err)
	}
	// The same credit again (a retried request) changes nothing.
	again, changed, err := a.With(AccountChange{Credit: &grant}, t0.Add(sec))
	if err != nil || changed || len(again.Credits) != 1 || !again.UpdatedAt.Equal(t0) {
		t.Fatalf("credit added twice: %+v %v %v", again, changed, err)
	}
	// Another amount under the same id is a mistake, not a retry.
	other := grant
	other.Micros = 9_000_000
	if _, _, err := a.With(AccountChange{Credit: &other}, t0); !errors.Is(err, ErrInvalidCredit) {
		t.Fatalf("another credit under a used id: %v", err)
	}
	cleared, changed, err := a.With(AccountChange{ClearLimits: true}, t0)
	if err != nil || !changed || cleared.Limits != nil || a.Limits == nil {
		t.Fatalf("clear limits (the receiver must keep its own): %+v %+v %v %v", cleared, a, changed, err)
	}
}

func TestAccountChangeRefusesBadInput(t *testing.T) {
	neg := planWith(func(p *Plan) { p.VCPUSecondNanos = -1 })
	for name, c := range map[string]struct {
		change AccountChange
		want   error
	}{
		"nothing":          {AccountChange{}, ErrInvalidChange},
		"two at once":      {AccountChange{ClearLimits: true, Limits: &Limits{}}, ErrInvalidChange},
		"negative price":   {AccountChange{Plan: &neg}, ErrInvalidPlan},
		"soft under hard":  {AccountChange{Limits: &Limits{SoftMicros: -5, HardMicros: 0}}, ErrInvalidLimits},
		"negative credit":  {AccountChange{Credit: &Credit{ID: "x", Kind: EntryGrant, Micros: -1}}, ErrInvalidCredit},
		"credit as charge": {AccountChange{Credit: &Credit{ID: "x", Kind: EntryCharge, Micros: 1}}, ErrInvalidCredit},
		"credit no id":     {AccountChange{Credit: &Credit{Kind: EntryTopUp, Micros: 1}}, ErrInvalidCredit},
		"absurd credit":    {AccountChange{Credit: &Credit{ID: "x", Kind: EntryTopUp, Micros: MaxCreditMicros + 1}}, ErrInvalidCredit},
		"not a customer":   {AccountChange{StripeCustomer: ptr("acct_1")}, ErrInvalidChange},
		"bare prefix":      {AccountChange{StripeCustomer: ptr("cus_")}, ErrInvalidChange},
		"odd characters":   {AccountChange{StripeCustomer: ptr("cus_a b")}, ErrInvalidChange},
	} {
		if _, _, err := (Account{}).With(c.change, t0); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestAccountBudget(t *testing.T) {
	a := Account{Credits: []Credit{{ID: "g", Kind: EntryGrant, Micros: 3_000_000}, {ID: "t", Kind: EntryTopUp, Micros: 2_000_000}}}
	b, st, err := a.Budget(4_000_000)
	if err != nil || b.Micros != 1_000_000 || st.Status != BudgetOK {
		t.Fatalf("no limits: %+v %+v %v", b, st, err)
	}
	a.Limits = &Limits{SoftMicros: 1_500_000, HardMicros: 0}
	if _, st, _ := a.Budget(4_000_000); st.Status != BudgetSoftLimit {
		t.Errorf("balance 1.00 under the 1.50 warning: %s", st.Status)
	}
	if _, st, _ := a.Budget(5_000_000); st.Status != BudgetExhausted || st.CreatesAllowed() || !st.StopRunning() {
		t.Errorf("balance 0 at the hard limit 0: %+v", st)
	}
}

func TestPeriodChargeTakesTheAllowanceFirst(t *testing.T) {
	p := planWith(func(p *Plan) { p.FreeVCPUSeconds = 100 })
	q := vcpuSeconds(150)
	q.MiBMilliseconds = gibSeconds(10).MiBMilliseconds
	got, err := p.PeriodCharge(q)
	if err != nil {
		t.Fatal(err)
	}
	// 50 vCPU-s × 14000 nanos + 10 GiB-s × 4500 nanos = 700000 + 45000 nanos = 745 micros.
	if got != 745 {
		t.Errorf("charge %d micros, want 745", got)
	}
	if got, _ := p.PeriodCharge(vcpuSeconds(99)); got != 0 {
		t.Errorf("usage inside the allowance costs %d", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAccountStripeCustomer(t *testing.T) {
	a, _, err := (Account{}).With(AccountChange{StripeCustomer: ptr("cus_NffrFeUfNV2Hib")}, t0)
	if err != nil || a.StripeCustomerID != "cus_NffrFeUfNV2Hib" {
		t.Fatalf("set: %+v %v", a, err)
	}
	a, _, err = a.With(AccountChange{StripeCustomer: ptr("")}, t0)
	if err != nil || a.StripeCustomerID != "" {
		t.Fatalf("clear: %+v %v", a, err)
	}
}
