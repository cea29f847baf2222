package billing

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const dollar = 1_000_000 // micros

func TestEvaluate(t *testing.T) {
	prepaid := Limits{SoftMicros: 5 * dollar, HardMicros: 0, Currency: "USD"}
	credit := Limits{SoftMicros: 0, HardMicros: -10 * dollar, Currency: "USD"}
	noWarning := Limits{Currency: "USD"}
	for _, tc := range []struct {
		name    string
		balance int64
		limits  Limits
		want    BudgetStatus
		says    string
	}{
		{"well above", 10 * dollar, prepaid, BudgetOK, "The balance is 10.00 USD, above the warning level of 5.00 USD."},
		{"a micro above the warning", 5*dollar + 1, prepaid, BudgetOK, "5.000001 USD"},
		{"at the warning", 5 * dollar, prepaid, BudgetSoftLimit, "at or under the warning level of 5.00 USD"},
		{"under the warning", 4_200_000, prepaid, BudgetSoftLimit, "The balance is 4.20 USD"},
		{"a micro left", 1, prepaid, BudgetSoftLimit, "at 0.00 USD new sandboxes will be refused"},
		{"nothing left", 0, prepaid, BudgetExhausted, "has reached the limit of 0.00 USD: new sandboxes are refused and running ones are stopped"},
		{"overdrawn", -30_000, prepaid, BudgetExhausted, "The balance is -0.03 USD"},
		{"credit line: in debt but fine", -1 * dollar, credit, BudgetSoftLimit, "-1.00 USD"},
		{"credit line used up", -10 * dollar, credit, BudgetExhausted, "-10.00 USD"},
		{"credit line, positive", 1, credit, BudgetOK, ""},
		{"no warning level: OK", 1, noWarning, BudgetOK, "above the limit of 0.00 USD"},
		{"no warning level: straight to exhausted", 0, noWarning, BudgetExhausted, ""},
		{"no currency", 975, Limits{SoftMicros: dollar}, BudgetSoftLimit, "The balance is 0.000975, at or under the warning level of 1.00:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Evaluate(tc.balance, tc.limits)
			if s.Status != tc.want || !strings.Contains(s.Message, tc.says) {
				t.Fatalf("Evaluate(%d, %+v) = %s %q; want %s saying %q", tc.balance, tc.limits, s.Status, s.Message, tc.want, tc.says)
			}
			if s.BalanceMicros != tc.balance || s.Limits != tc.limits {
				t.Fatalf("state %+v does not carry its inputs", s)
			}
			exhausted := tc.want == BudgetExhausted
			if s.CreatesAllowed() == exhausted || s.StopRunning() != exhausted {
				t.Fatalf("%s: CreatesAllowed %v, StopRunning %v", s.Status, s.CreatesAllowed(), s.StopRunning())
			}
		})
	}
}

// TestBudgetTransitions follows a team through a period: a grant, charges
// down through the warning to exhaustion, a top-up back to OK.
func TestBudgetTransitions(t *testing.T) {
	limits := Limits{SoftMicros: 5 * dollar, Currency: "USD"}
	entries := []Entry{{EntryGrant, 10 * dollar}}
	steps := []struct {
		add  Entry
		want BudgetStatus
	}{
		{Entry{EntryCharge, 3 * dollar}, BudgetOK},         // 7
		{Entry{EntryCharge, 3 * dollar}, BudgetSoftLimit},  // 4: OK → SOFT_LIMIT
		{Entry{EntryCharge, 3 * dollar}, BudgetSoftLimit},  // 1
		{Entry{EntryCharge, 3 * dollar}, BudgetExhausted},  // -2: SOFT_LIMIT → EXHAUSTED
		{Entry{EntryTopUp, 4 * dollar}, BudgetSoftLimit},   // 2: EXHAUSTED → SOFT_LIMIT
		{Entry{EntryTopUp, 20 * dollar}, BudgetOK},         // 22: SOFT_LIMIT → OK
		{Entry{EntryCharge, 22 * dollar}, BudgetExhausted}, // 0: OK → EXHAUSTED at once
		{Entry{EntryGrant, 1}, BudgetSoftLimit},            // a micro
	}
	b, _ := BalanceOf(entries)
	prev := Evaluate(b.Micros, limits).Status
	if prev != BudgetOK {
		t.Fatalf("after the grant: %s", prev)
	}
	var changes []string
	for i, s := range steps {
		entries = append(entries, s.add)
		b, err := BalanceOf(entries)
		if err != nil {
			t.Fatal(err)
		}
		st := Evaluate(b.Micros, limits)
		if st.Status != s.want {
			t.Fatalf("step %d (balance %d): %s, want %s", i, b.Micros, st.Status, s.want)
		}
		if st.Status != prev {
			changes = append(changes, string(prev)+"→"+string(st.Status))
		}
		prev = st.Status
	}
	want := "OK→SOFT_LIMIT SOFT_LIMIT→EXHAUSTED EXHAUSTED→SOFT_LIMIT SOFT_LIMIT→OK OK→EXHAUSTED EXHAUSTED→SOFT_LIMIT"
	if got := strings.Join(changes, " "); got != want {
		t.Fatalf("transitions %s\nwant        %s", got, want)
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		field  string // "" when valid
	}{
		{"zero", Limits{}, ""},
		{"prepaid", Limits{SoftMicros: 5 * dollar, Currency: "USD"}, ""},
		{"credit line", Limits{SoftMicros: 0, HardMicros: -100 * dollar}, ""},
		{"at the bounds", Limits{SoftMicros: MaxLimitMicros, HardMicros: -MaxLimitMicros}, ""},
		{"warning under the hard limit", Limits{SoftMicros: -1, HardMicros: 0}, "SoftMicros"},
		{"absurd soft", Limits{SoftMicros: MaxLimitMicros + 1}, "SoftMicros"},
		{"absurd hard", Limits{SoftMicros: 0, HardMicros: math.MinInt64}, "HardMicros"},
		{"bad currency", Limits{Currency: "dollars"}, "Currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limits.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidLimits) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v; want ErrInvalidLimits naming %s", err, tc.field)
			}
		})
	}
}

func TestFormatMicros(t *testing.T) {
	for _, tc := range []struct {
		micros   int64
		currency string
		want     string
	}{
		{0, "USD", "0.00 USD"},
		{975, "USD", "0.000975 USD"},
		{4_200_000, "USD", "4.20 USD"},
		{4_210_000, "USD", "4.21 USD"},
		{4_215_000, "USD", "4.215 USD"},
		{-30_000, "USD", "-0.03 USD"},
		{58_026_240_000_000, "USD", "58026240.00 USD"},
		{1, "", "0.000001"},
		{math.MinInt64, "", "-9223372036854.775808"},
		{math.MaxInt64, "EUR", "9223372036854.775807 EUR"},
	} {
		if got := FormatMicros(tc.micros, tc.currency); got != tc.want {
			t.Errorf("FormatMicros(%d, %q) = %q, want %q", tc.micros, tc.currency, got, tc.want)
		}
	}
}
