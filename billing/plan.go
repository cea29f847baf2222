package billing

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Bounds beyond which a plan is absurd rather than expensive. They also
// keep every product computed here inside 128 bits and every allowance
// inside an int64.
const (
	// MaxPriceNanos is the highest price of a vCPU-second or a
	// GiB-second: one unit of currency ($1), about 70,000 times E2B's
	// price of a vCPU-second.
	MaxPriceNanos = 1_000_000_000
	// MaxFreeSeconds bounds a plan's free vCPU-seconds and GiB-seconds per
	// period: 10^12, over 30,000 vCPU-years.
	MaxFreeSeconds = 1_000_000_000_000
	// MaxMinimumSeconds bounds the per-sandbox minimum: an hour.
	MaxMinimumSeconds = 3600
)

// NanosPerMicro is how many nano-units of currency make a micro-unit.
const NanosPerMicro = 1000

// ErrInvalidPlan is wrapped by every error about a price plan that cannot
// be used: a negative or absurd price, allowance or minimum, a missing ID
// or currency. The API answers it with INVALID_ARGUMENT.
var ErrInvalidPlan = errors.New("invalid price plan")

// Plan is a price plan. Prices are integers in nano-units of currency
// (10^-9: $0.000014 is 14000 nanos) per unit of resource per second of
// allocation, so that no price is ever a float.
type Plan struct {
	ID   string // stable identifier, e.g. "default"
	Name string // for people, e.g. "Pay as you go"

	VCPUSecondNanos int64 // price of one vCPU for one second
	GiBSecondNanos  int64 // price of one GiB of memory for one second

	// OnMaxOfUsed bills, record by record, the larger of what was
	// allocated and what was used (Modal's rule): used vCPUs are the
	// record's CPUSeconds over its length, used memory its peak. Without
	// it only the allocation is billed (E2B's rule).
	OnMaxOfUsed bool

	// Free allowance per billing period, consumed before anything is
	// charged. The period (a calendar month, say) is the caller's: it
	// passes what is left of the allowance to Rate.
	FreeVCPUSeconds int64
	FreeGiBSeconds  int64

	// MinimumSecondsPerSandbox bills a sandbox that ran for less than
	// this as if it had run this long, at the allocation of its Final
	// record. 0 means no minimum.
	MinimumSecondsPerSandbox int

	Currency string // ISO 4217 code, e.g. "USD"
}

// DefaultPlan is E2B's published per-second price: $0.000014 per
// vCPU-second and $0.0000045 per GiB-second of what is allocated while it
// runs, with no allowance and no minimum.
func DefaultPlan() Plan {
	return Plan{
		ID:              "default",
		Name:            "Pay as you go",
		VCPUSecondNanos: 14_000,
		GiBSecondNanos:  4_500,
		Currency:        "USD",
	}
}

// Validate says whether the plan can be used, and if not which field is
// wrong, in an error wrapping ErrInvalidPlan.
func (p Plan) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPlan, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(p.ID) == "" {
		return bad("the plan has no ID")
	}
	for _, f := range []struct {
		field, what string
		v           int64
	}{
		{"VCPUSecondNanos", "the price of a vCPU-second", p.VCPUSecondNanos},
		{"GiBSecondNanos", "the price of a GiB-second", p.GiBSecondNanos},
	} {
		if f.v < 0 {
			return bad("plan %q: %s (%s) is %d nanos; a price cannot be negative", p.ID, f.what, f.field, f.v)
		}
		if f.v > MaxPriceNanos {
			return bad("plan %q: %s (%s) is %d nanos, over the limit of %d nanos (1 unit of currency)",
				p.ID, f.what, f.field, f.v, MaxPriceNanos)
		}
	}
	for _, f := range []struct {
		field string
		v     int64
	}{
		{"FreeVCPUSeconds", p.FreeVCPUSeconds},
		{"FreeGiBSeconds", p.FreeGiBSeconds},
	} {
		if f.v < 0 {
			return bad("plan %q: the free allowance %s is %d; it cannot be negative", p.ID, f.field, f.v)
		}
		if f.v > MaxFreeSeconds {
			return bad("plan %q: the free allowance %s is %d, over the limit of %d", p.ID, f.field, f.v, int64(MaxFreeSeconds))
		}
	}
	if p.MinimumSecondsPerSandbox < 0 {
		return bad("plan %q: MinimumSecondsPerSandbox is %d; it cannot be negative", p.ID, p.MinimumSecondsPerSandbox)
	}
	if p.MinimumSecondsPerSandbox > MaxMinimumSeconds {
		return bad("plan %q: MinimumSecondsPerSandbox is %d, over the limit of %d (an hour)",
			p.ID, p.MinimumSecondsPerSandbox, MaxMinimumSeconds)
	}
	if !isCurrencyCode(p.Currency) {
		return bad("plan %q: the Currency %q is not a three-letter ISO 4217 code such as \"USD\"", p.ID, p.Currency)
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Allowance is the plan's whole free allowance for a period, the value to
// start a period with.
func (p Plan) Allowance() (Quantity, error) {
	if err := p.Validate(); err != nil {
		return Quantity{}, err
	}
	// Validate bounds both by 10^12: the products stay under 1.1·10^18.
	return Quantity{
		VCPUMicroseconds: p.FreeVCPUSeconds * vcpuMicrosecondsPerVCPUSecond,
		MiBMilliseconds:  p.FreeGiBSeconds * mibMillisecondsPerGiBSecond,
	}, nil
}

// ParsePrice reads a price written in units of currency as a plain
// decimal ("0.000014", "1", ".5") into nanos. It refuses what is not such a
// number (a sign, an exponent, NaN, Inf), more than nine decimals, and
// prices over MaxPriceNanos, with an error wrapping ErrInvalidPlan.
func ParsePrice(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w: the price %q %s", ErrInvalidPlan, s, why)
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return bad("is not a number")
	}
	if hasDot && frac == "" {
		return bad("ends with a decimal point")
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				if part[i] == '-' {
					return bad("is negative; a price cannot be negative")
				}
				return bad("is not a plain decimal number of units of currency such as 0.000014")
			}
		}
	}
	if len(frac) > 9 {
		return bad("has more than nine decimals; prices are counted in nano-units (10^-9)")
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 1 {
		return bad(fmt.Sprintf("is over the limit of %d nanos (1 unit of currency)", MaxPriceNanos))
	}
	var n int64
	for i := 0; i < len(intPart); i++ {
		n = n*10 + int64(intPart[i]-'0')
	}
	frac += strings.Repeat("0", 9-len(frac))
	for i := 0; i < 9; i++ {
		n = n*10 + int64(frac[i]-'0')
	}
	if n > MaxPriceNanos {
		return bad(fmt.Sprintf("is over the limit of %d nanos (1 unit of currency)", MaxPriceNanos))
	}
	return n, nil
}

// Price is the cost of q under the plan in micro-units of currency: the
// exact amount q.VCPUMicroseconds·VCPUSecondNanos/10^6 +
// q.MiBMilliseconds·GiBSecondNanos/1,024,000 nanos, computed in 128-bit
// integers and rounded half up to a whole micro once, here. It is the only
// place money is rounded.
func (p Plan) Price(q Quantity) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if q.VCPUMicroseconds < 0 || q.MiBMilliseconds < 0 {
		return 0, fmt.Errorf("%w: a negative quantity (%d vCPU-µs, %d MiB-ms) cannot be priced",
			ErrInvalidRecord, q.VCPUMicroseconds, q.MiBMilliseconds)
	}
	// Over the common denominator 128·10^6 of 10^6 and 1,024,000:
	// nanos = (vcpu·price·128 + mem·price·125) / (128·10^6), and
	// micros = that / 1000.
	n := mul3(uint64(q.VCPUMicroseconds), uint64(p.VCPUSecondNanos), 128).
		plus(mul3(uint64(q.MiBMilliseconds), uint64(p.GiBSecondNanos), 125))
	micros, ok := n.divRoundHalfUp(128 * 1_000_000 * NanosPerMicro)
	if !ok {
		return 0, fmt.Errorf("pricing %d vCPU-µs and %d MiB-ms under plan %q: %w",
			q.VCPUMicroseconds, q.MiBMilliseconds, p.ID, ErrOverflow)
	}
	return micros, nil
}

// Cost rates a usage report (Summarize) under the plan at list price:
// allocation only, with no allowance and no minimum, which need metered
// records (Rate). The report's float totals are first rounded to the
// units of Quantity.
func (p Plan) Cost(r Report) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	vcpu, err := floatUnits(r.VCPUSeconds, vcpuMicrosecondsPerVCPUSecond, "the report's vCPU-seconds")
	if err != nil {
		return 0, err
	}
	mem, err := floatUnits(r.GiBSeconds, mibMillisecondsPerGiBSecond, "the report's GiB-seconds")
	if err != nil {
		return 0, err
	}
	return p.Price(Quantity{VCPUMicroseconds: vcpu, MiBMilliseconds: mem})
}

// floatUnits converts v, a non-negative float, times scale to an integer,
// rounding half up; NaN, negative, infinite or too large values are errors.
func floatUnits(v float64, scale int64, what string) (int64, error) {
	x := v * float64(scale)
	if math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("%w: %s is %v; it must be a number, not negative", ErrInvalidRecord, what, v)
	}
	if math.IsInf(x, 0) || x >= 1<<62 {
		return 0, fmt.Errorf("%s (%v): %w", what, v, ErrOverflow)
	}
	return int64(math.Floor(x + 0.5)), nil
}
