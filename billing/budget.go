package billing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Enforcement of an exhausted budget, for the control plane that carries
// it out.
const (
	// StopReasonBudgetExhausted is the stopReason of a sandbox stopped
	// because its team's budget is exhausted.
	StopReasonBudgetExhausted = "BUDGET_EXHAUSTED"
	// StopWithin is how soon running sandboxes must be stopped once their
	// team's budget is exhausted.
	StopWithin = 30 * time.Second
)

// MaxLimitMicros bounds the levels of Limits either way: 10^15 micros, a
// billion units of currency.
const MaxLimitMicros = 1_000_000_000_000_000

// ErrInvalidLimits is wrapped by Limits.Validate's errors. The API answers
// it with INVALID_ARGUMENT.
var ErrInvalidLimits = errors.New("invalid spend limits")

// Limits are two floors under a team's balance, in micro-units of
// currency. A team spends from its balance; when the balance is at or
// under SoftMicros it is warned (SOFT_LIMIT); at or under HardMicros its
// budget is exhausted (EXHAUSTED): new sandboxes are refused and running
// ones stopped. HardMicros is usually 0 (prepaid); a negative one is a
// credit line. SoftMicros == HardMicros means no warning.
type Limits struct {
	SoftMicros int64
	HardMicros int64
	Currency   string // for messages only, e.g. "USD"; may be empty
}

// Validate says whether the limits make sense, in an error wrapping
// ErrInvalidLimits that names the field.
func (l Limits) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidLimits, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct {
		field string
		v     int64
	}{{"SoftMicros", l.SoftMicros}, {"HardMicros", l.HardMicros}} {
		if f.v > MaxLimitMicros || f.v < -MaxLimitMicros {
			return bad("%s is %d micros, beyond ±%d", f.field, f.v, int64(MaxLimitMicros))
		}
	}
	if l.SoftMicros < l.HardMicros {
		return bad("the warning level SoftMicros (%s) is under the hard limit HardMicros (%s); the warning must come first",
			FormatMicros(l.SoftMicros, l.Currency), FormatMicros(l.HardMicros, l.Currency))
	}
	if l.Currency != "" && !isCurrencyCode(l.Currency) {
		return bad("the Currency %q is not a three-letter ISO 4217 code such as \"USD\"", l.Currency)
	}
	return nil
}

// BudgetStatus is where a balance stands against its limits.
type BudgetStatus string

// The budget statuses, from best to worst.
const (
	BudgetOK        BudgetStatus = "OK"
	BudgetSoftLimit BudgetStatus = "SOFT_LIMIT" // warn: an event and a warning
	BudgetExhausted BudgetStatus = "EXHAUSTED"  // refuse creates (RESOURCE_EXHAUSTED), stop running sandboxes
)

// BudgetState is the verdict of Evaluate.
type BudgetState struct {
	Status        BudgetStatus
	BalanceMicros int64
	Limits        Limits
	Message       string // a sentence for a person
}

// CreatesAllowed is false when new sandboxes must be refused.
func (s BudgetState) CreatesAllowed() bool { return s.Status != BudgetExhausted }

// StopRunning is true when the team's running sandboxes must be stopped
// (with StopReasonBudgetExhausted, within StopWithin).
func (s BudgetState) StopRunning() bool { return s.Status == BudgetExhausted }

// Evaluate says where a balance stands against limits. A level is crossed
// when the balance is at or under it; the hard limit wins over the soft
// one. The caller raises an event when the status differs from the one it
// evaluated before.
func Evaluate(balanceMicros int64, l Limits) BudgetState {
	s := BudgetState{BalanceMicros: balanceMicros, Limits: l}
	bal := FormatMicros(balanceMicros, l.Currency)
	soft := FormatMicros(l.SoftMicros, l.Currency)
	hard := FormatMicros(l.HardMicros, l.Currency)
	switch {
	case balanceMicros <= l.HardMicros:
		s.Status = BudgetExhausted
		s.Message = fmt.Sprintf("The balance is %s and has reached the limit of %s: new sandboxes are refused and running ones are stopped. Top up to continue.", bal, hard)
	case balanceMicros <= l.SoftMicros:
		s.Status = BudgetSoftLimit
		s.Message = fmt.Sprintf("The balance is %s, at or under the warning level of %s: at %s new sandboxes will be refused and running ones stopped. Top up to keep working.", bal, soft, hard)
	default:
		s.Status = BudgetOK
		if l.SoftMicros > l.HardMicros {
			s.Message = fmt.Sprintf("The balance is %s, above the warning level of %s.", bal, soft)
		} else {
			s.Message = fmt.Sprintf("The balance is %s, above the limit of %s.", bal, hard)
		}
	}
	return s
}

// FormatMicros writes an amount of micro-units as units of currency with
// at least two decimals and no trailing zeros past them: 4200000 "USD" is
// "4.20 USD", 975 is "0.000975 USD", -30000 is "-0.03 USD". Without a
// currency it is the number alone.
func FormatMicros(micros int64, currency string) string {
	var b strings.Builder
	u := uint64(micros)
	if micros < 0 {
		b.WriteByte('-')
		u = -u // two's complement: right for MinInt64 too
	}
	b.WriteString(strconv.FormatUint(u/1_000_000, 10))
	frac := fmt.Sprintf("%06d", u%1_000_000)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	b.WriteString("." + frac)
	if currency != "" {
		b.WriteString(" " + currency)
	}
	return b.String()
}
