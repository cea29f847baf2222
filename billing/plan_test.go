package billing

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDefaultPlanIsE2B(t *testing.T) {
	p := DefaultPlan()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]int64{"0.000014": p.VCPUSecondNanos, "0.0000045": p.GiBSecondNanos} {
		got, err := ParsePrice(s)
		if err != nil || got != want || want == 0 {
			t.Errorf("ParsePrice(%q) = %d, %v; the default plan has %d", s, got, err, want)
		}
	}
	if p.OnMaxOfUsed || p.FreeVCPUSeconds != 0 || p.FreeGiBSeconds != 0 || p.MinimumSecondsPerSandbox != 0 || p.Currency != "USD" {
		t.Errorf("default plan = %+v; want allocation only, no allowance, no minimum, USD", p)
	}
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plan  Plan
		field string // "" when valid; else a word the error must contain
	}{
		{"default", DefaultPlan(), ""},
		{"free of charge", planWith(func(p *Plan) { p.VCPUSecondNanos, p.GiBSecondNanos = 0, 0 }), ""},
		{"prices at the bound", planWith(func(p *Plan) { p.VCPUSecondNanos, p.GiBSecondNanos = MaxPriceNanos, MaxPriceNanos }), ""},
		{"all options", planWith(func(p *Plan) {
			p.OnMaxOfUsed, p.FreeVCPUSeconds, p.FreeGiBSeconds, p.MinimumSecondsPerSandbox = true, MaxFreeSeconds, 1, MaxMinimumSeconds
		}), ""},
		{"negative vCPU price", planWith(func(p *Plan) { p.VCPUSecondNanos = -1 }), "VCPUSecondNanos"},
		{"negative GiB price", planWith(func(p *Plan) { p.GiBSecondNanos = -4500 }), "GiBSecondNanos"},
		{"absurd vCPU price", planWith(func(p *Plan) { p.VCPUSecondNanos = MaxPriceNanos + 1 }), "VCPUSecondNanos"},
		{"absurd GiB price", planWith(func(p *Plan) { p.GiBSecondNanos = math.MaxInt64 }), "GiBSecondNanos"},
		{"negative free vCPU", planWith(func(p *Plan) { p.FreeVCPUSeconds = -1 }), "FreeVCPUSeconds"},
		{"absurd free GiB", planWith(func(p *Plan) { p.FreeGiBSeconds = MaxFreeSeconds + 1 }), "FreeGiBSeconds"},
		{"negative minimum", planWith(func(p *Plan) { p.MinimumSecondsPerSandbox = -1 }), "MinimumSecondsPerSandbox"},
		{"minimum over an hour", planWith(func(p *Plan) { p.MinimumSecondsPerSandbox = 3601 }), "MinimumSecondsPerSandbox"},
		{"no ID", planWith(func(p *Plan) { p.ID = " " }), "ID"},
		{"no currency", planWith(func(p *Plan) { p.Currency = "" }), "Currency"},
		{"lower-case currency", planWith(func(p *Plan) { p.Currency = "usd" }), "Currency"},
		{"dollar sign", planWith(func(p *Plan) { p.Currency = "$" }), "Currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v; want ErrInvalidPlan naming %s", err, tc.field)
			}
			// Every use of an invalid plan refuses it the same way.
			if _, err := Rate(tc.plan, nil, Quantity{}); !errors.Is(err, ErrInvalidPlan) {
				t.Errorf("Rate: err = %v, want ErrInvalidPlan", err)
			}
			if _, err := tc.plan.Price(Quantity{}); !errors.Is(err, ErrInvalidPlan) {
				t.Errorf("Price: err = %v, want ErrInvalidPlan", err)
			}
			if _, err := tc.plan.Cost(Report{}); !errors.Is(err, ErrInvalidPlan) {
				t.Errorf("Cost: err = %v, want ErrInvalidPlan", err)
			}
			if _, err := tc.plan.Allowance(); !errors.Is(err, ErrInvalidPlan) {
				t.Errorf("Allowance: err = %v, want ErrInvalidPlan", err)
			}
		})
	}
}

func TestParsePrice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // -1: refused
	}{
		{"0.000014", 14000},
		{"0.0000045", 4500},
		{"1", 1_000_000_000},
		{"1.000000000", 1_000_000_000},
		{".5", 500_000_000},
		{"0", 0},
		{"000.000000001", 1},
		{"0.0000000001", -1}, // ten decimals
		{"1.000000001", -1},  // over $1
		{"12", -1},
		{"-0.000014", -1},
		{"+0.1", -1},
		{"NaN", -1},
		{"Inf", -1},
		{"1e-5", -1},
		{"0,5", -1},
		{"", -1},
		{".", -1},
		{"1.", -1},
		{" 1", -1},
	} {
		got, err := ParsePrice(tc.in)
		switch {
		case tc.want < 0 && !errors.Is(err, ErrInvalidPlan):
			t.Errorf("ParsePrice(%q) = %d, %v; want ErrInvalidPlan", tc.in, got, err)
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("ParsePrice(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestPriceRoundsHalfUpOnce(t *testing.T) {
	// One micro per vCPU-second and per GiB-second makes the exact
	// amounts easy to see.
	p := planWith(func(p *Plan) { p.VCPUSecondNanos, p.GiBSecondNanos = 1000, 1000 })
	for _, tc := range []struct {
		q    Quantity
		want int64
	}{
		{Quantity{}, 0},
		{vcpuSeconds(1), 1},
		{Quantity{VCPUMicroseconds: 499_999}, 0}, // 0.499999
		{Quantity{VCPUMicroseconds: 500_000}, 1}, // 0.5 → up
		{Quantity{VCPUMicroseconds: 1_500_000}, 2},
		{Quantity{VCPUMicroseconds: 2_500_000}, 3}, // half up, not to even
		{gibSeconds(1), 1},
		{Quantity{MiBMilliseconds: 511_999}, 0}, // 0.4999990…
		{Quantity{MiBMilliseconds: 512_000}, 1}, // 0.5
		// 0.3 + 0.3: each part rounds to 0, the sum once to 1.
		{Quantity{VCPUMicroseconds: 300_000, MiBMilliseconds: 307_200}, 1},
	} {
		got, err := p.Price(tc.q)
		if err != nil || got != tc.want {
			t.Errorf("Price(%+v) = %d, %v; want %d", tc.q, got, err, tc.want)
		}
	}
}

// TestPriceIsExact checks Price against big-rational arithmetic on random
// and extreme quantities and prices.
func TestPriceIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	extremes := []int64{0, 1, 499, 500, 1023, 1024, 999_999, 1_000_000, 1 << 40, math.MaxInt64 / 1_000_000_000, math.MaxInt64/2 - 1, math.MaxInt64/2 + 1, math.MaxInt64}
	pick := func(max int64) int64 {
		if rng.IntN(3) == 0 {
			return min(extremes[rng.IntN(len(extremes))], max)
		}
		if max == math.MaxInt64 {
			return rng.Int64()
		}
		return rng.Int64N(max + 1)
	}
	overflows := 0
	for i := 0; i < 20000; i++ {
		p := planWith(func(p *Plan) { p.VCPUSecondNanos, p.GiBSecondNanos = pick(MaxPriceNanos), pick(MaxPriceNanos) })
		q := Quantity{VCPUMicroseconds: pick(math.MaxInt64), MiBMilliseconds: pick(math.MaxInt64)}
		exact := new(big.Rat).Add(
			new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(q.VCPUMicroseconds), big.NewInt(p.VCPUSecondNanos)), big.NewInt(1e9)),
			new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(q.MiBMilliseconds), big.NewInt(p.GiBSecondNanos)), big.NewInt(1_024_000_000)))
		// half up: floor(exact + 1/2)
		half := new(big.Rat).Add(exact, big.NewRat(1, 2))
		want := new(big.Int).Quo(half.Num(), half.Denom())
		got, err := p.Price(q)
		if !want.IsInt64() {
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("Price(%+v) under %d/%d = %d, %v; want ErrOverflow (exact %s)", q, p.VCPUSecondNanos, p.GiBSecondNanos, got, err, want)
			}
			overflows++
			continue
		}
		if err != nil || got != want.Int64() {
			t.Fatalf("Price(%+v) under %d/%d = %d, %v; want %s", q, p.VCPUSecondNanos, p.GiBSecondNanos, got, err, want)
		}
	}
	if overflows == 0 || overflows > 10000 {
		t.Fatalf("%d of 20000 cases overflowed; the test should see both outcomes", overflows)
	}
}

func TestPriceOverflow(t *testing.T) {
	p := planWith(func(p *Plan) { p.VCPUSecondNanos, p.GiBSecondNanos = MaxPriceNanos, MaxPriceNanos })
	if got, err := p.Price(Quantity{VCPUMicroseconds: math.MaxInt64, MiBMilliseconds: math.MaxInt64}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Price(max) = %d, %v; want ErrOverflow", got, err)
	}
	// The largest quantity at E2B's price fits: 9.2·10^12 vCPU-s × 14000 nanos.
	got, err := DefaultPlan().Price(Quantity{VCPUMicroseconds: math.MaxInt64})
	if err != nil || got != 129_127_208_515_967 {
		t.Fatalf("Price(MaxInt64 vCPU-µs) = %d, %v; want 129127208515967", got, err)
	}
	if _, err := DefaultPlan().Price(Quantity{VCPUMicroseconds: -1}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("negative quantity: err = %v", err)
	}
}

func TestCost(t *testing.T) {
	for _, tc := range []struct {
		r    Report
		want int64
		err  error
	}{
		{Report{VCPUSeconds: 100, GiBSeconds: 10}, 100*14 + 45, nil},
		{Report{VCPUSeconds: 30, GiBSeconds: 30}, 555, nil}, // 420000 + 135000 nanos
		{Report{VCPUSeconds: 1, GiBSeconds: 1}, 19, nil},    // 18.5 → 19
		{Report{VCPUSeconds: math.NaN()}, 0, ErrInvalidRecord},
		{Report{GiBSeconds: -1}, 0, ErrInvalidRecord},
		{Report{VCPUSeconds: math.Inf(1)}, 0, ErrOverflow},
	} {
		got, err := DefaultPlan().Cost(tc.r)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("Cost(%+v) = %d, %v; want %d, %v", tc.r, got, err, tc.want, tc.err)
		}
	}
}

func TestAllowance(t *testing.T) {
	p := planWith(func(p *Plan) { p.FreeVCPUSeconds, p.FreeGiBSeconds = 3600, 7200 })
	q, err := p.Allowance()
	if err != nil || q != (Quantity{VCPUMicroseconds: 3600e6, MiBMilliseconds: 7200 * 1_024_000}) {
		t.Fatalf("Allowance() = %+v, %v", q, err)
	}
	if q.VCPUSeconds() != 3600 || q.GiBSeconds() != 7200 {
		t.Fatalf("allowance in seconds = %v, %v", q.VCPUSeconds(), q.GiBSeconds())
	}
}
