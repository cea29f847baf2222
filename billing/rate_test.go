package billing

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// The examples are computed by hand at E2B's prices, 14000 nanos per
// vCPU-second and 4500 per GiB-second.
func TestRateByHand(t *testing.T) {
	e2b := DefaultPlan()
	maxOfUsed := planWith(func(p *Plan) { p.OnMaxOfUsed = true })
	minute := planWith(func(p *Plan) { p.MinimumSecondsPerSandbox = 60 })
	for _, tc := range []struct {
		name    string
		plan    Plan
		records []structs.UsageRecord
		want    int64 // micros
		minMs   int64 // MinimumMilliseconds
	}{
		// 60×14000 + 30×4500 = 840000 + 135000 = 975000 nanos.
		{"1 vCPU, 512 MiB, 60 s", e2b, []structs.UsageRecord{rec("a", 0, 60*sec, 1, 512, true)}, 975, 0},
		// 20×14000 + 20×4500 = 370000 nanos.
		{"2 vCPUs, 2 GiB, 10 s", e2b, []structs.UsageRecord{rec("a", 0, 10*sec, 2, 2048, false)}, 370, 0},
		// 0.5×14000 + 0.25×4500 = 8125 nanos: 8.125 → 8.
		{"half a vCPU, 256 MiB, 1 s", e2b, []structs.UsageRecord{rec("a", 0, sec, 0.5, 256, false)}, 8, 0},
		// 14000 + 4500 = 18500 nanos: 18.5 → 19.
		{"1 vCPU, 1 GiB, 1 s rounds half up", e2b, []structs.UsageRecord{rec("a", 0, sec, 1, 1024, false)}, 19, 0},
		// Twice 18500 nanos is 37000: 37, not 19 + 19.
		{"rounded once, not per record", e2b, []structs.UsageRecord{
			rec("a", 0, sec, 1, 1024, false), rec("a", sec, sec, 1, 1024, true)}, 37, 0},
		// Allocation only: what was used does not count.
		{"used more, allocation plan", e2b, []structs.UsageRecord{
			used(rec("a", 0, 60*sec, 1, 512, false), 90, 1<<30)}, 975, 0},
		// 90 CPU-s used > 60 allocated: 90×14000 + 30×4500 = 1395000.
		{"max of used: CPU burst", maxOfUsed, []structs.UsageRecord{
			used(rec("a", 0, 60*sec, 1, 512, false), 90, 256*MiB)}, 1395, 0},
		// Peak 1 GiB > 512 MiB: 60×14000 + 60×4500 = 1110000.
		{"max of used: memory peak", maxOfUsed, []structs.UsageRecord{
			used(rec("a", 0, 60*sec, 1, 512, false), 30, 1<<30)}, 1110, 0},
		// Under the allocation, max of used bills the allocation.
		{"max of used: used less", maxOfUsed, []structs.UsageRecord{
			used(rec("a", 0, 60*sec, 1, 512, false), 1, MiB)}, 975, 0},
		// Per record: max(60, 90) + max(60, 0) = 150 vCPU-s = 2100000
		// (not max(120, 90) = 120 of the totals).
		{"max of used is per record", maxOfUsed, []structs.UsageRecord{
			used(rec("a", 0, 60*sec, 1, 0, false), 90, 0),
			used(rec("a", 60*sec, 60*sec, 1, 0, false), 0, 0)}, 2100, 0},
		// 10 s billed as 60: 975.
		{"minimum tops up a short sandbox", minute, []structs.UsageRecord{rec("a", 0, 10*sec, 1, 512, true)}, 975, 50_000},
		// Not final: it may go on, no top-up. 10×14000 + 5×4500 = 162500: 162.5 → 163.
		{"minimum waits for the Final record", minute, []structs.UsageRecord{rec("a", 0, 10*sec, 1, 512, false)}, 163, 0},
		{"minimum counts every record of the sandbox", minute, []structs.UsageRecord{
			rec("a", 0, 20*sec, 1, 512, false), rec("a", 20*sec, 30*sec, 1, 512, true)}, 975, 10_000},
		{"minimum: longer sandbox untouched", minute, []structs.UsageRecord{rec("a", 0, 120*sec, 1, 512, true)}, 1950, 0},
		{"minimum once per sandbox", minute, []structs.UsageRecord{
			rec("a", 0, 10*sec, 1, 512, true), rec("b", 0, 10*sec, 1, 512, true)}, 1950, 100_000},
		// Top-up at the Final record's allocation (2 vCPUs, 1 GiB for
		// 50 s) on top of 10 s of 1 vCPU: 10×14000 + 100×14000 + 50×4500.
		{"minimum at the final allocation", minute, []structs.UsageRecord{
			rec("a", 0, 10*sec, 1, 0, false), rec("a", 10*sec, 0, 2, 1024, true)}, 1765, 50_000},
		{"nothing", e2b, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Rate(tc.plan, tc.records, Quantity{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Micros != tc.want || c.MinimumMilliseconds != tc.minMs {
				t.Fatalf("Rate = %d micros, minimum %d ms; want %d, %d (charge %+v)", c.Micros, c.MinimumMilliseconds, tc.want, tc.minMs, c)
			}
			if c.PlanID != tc.plan.ID || c.Currency != "USD" || c.Charged != c.Billable || c.Free != (Quantity{}) {
				t.Fatalf("charge %+v: want the plan's ID and currency, everything charged", c)
			}
			// Reversed, the records cost the same.
			rev := make([]structs.UsageRecord, len(tc.records))
			for i, r := range tc.records {
				rev[len(rev)-1-i] = r
			}
			if c2, err := Rate(tc.plan, rev, Quantity{}); err != nil || c2 != c {
				t.Fatalf("reversed: %+v, %v; want %+v", c2, err, c)
			}
			// Record by record, the quantities add up to the same.
			checkOneByOne(t, tc.plan, tc.records, Quantity{}, c)
		})
	}
}

func TestRateAllowance(t *testing.T) {
	p := planWith(func(p *Plan) { p.FreeVCPUSeconds, p.FreeGiBSeconds = 100, 50 })
	full, err := p.Allowance()
	if err != nil {
		t.Fatal(err)
	}
	r := rec("a", 0, 60*sec, 1, 1024, true) // 60 vCPU-s, 60 GiB-s
	for _, tc := range []struct {
		name     string
		left     Quantity
		want     int64
		free     Quantity
		leftOver Quantity
	}{
		// vCPU all free (40 left); 50 of 60 GiB-s free: 10×4500 = 45000.
		{"full allowance", full, 45, Quantity{VCPUMicroseconds: 60e6, MiBMilliseconds: 50 * 1_024_000},
			Quantity{VCPUMicroseconds: 40e6}},
		// 60×14000 + 60×4500 = 1110000.
		{"none left", Quantity{}, 1110, Quantity{}, Quantity{}},
		// 30 vCPU-s free: 30×14000 + 60×4500 = 690000.
		{"some left", vcpuSeconds(30), 690, vcpuSeconds(30), Quantity{}},
		{"more than enough", Quantity{VCPUMicroseconds: 1e12, MiBMilliseconds: 1e12}, 0,
			Quantity{VCPUMicroseconds: 60e6, MiBMilliseconds: 60 * 1_024_000},
			Quantity{VCPUMicroseconds: 1e12 - 60e6, MiBMilliseconds: 1e12 - 60*1_024_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Rate(p, []structs.UsageRecord{r}, tc.left)
			if err != nil {
				t.Fatal(err)
			}
			if c.Micros != tc.want || c.Free != tc.free || c.AllowanceLeft != tc.leftOver {
				t.Fatalf("charge %+v; want %d micros, free %+v, left %+v", c, tc.want, tc.free, tc.leftOver)
			}
			if sum, _ := c.Free.Plus(c.Charged); sum != c.Billable {
				t.Fatalf("free + charged = %+v, billable %+v", sum, c.Billable)
			}
		})
	}
	// The allowance runs out over a period, charge after charge.
	left := full
	var got []int64
	for i := 0; i < 3; i++ {
		c, err := Rate(p, []structs.UsageRecord{rec("a", time.Duration(i)*60*sec, 60*sec, 1, 1024, false)}, left)
		if err != nil {
			t.Fatal(err)
		}
		got, left = append(got, c.Micros), c.AllowanceLeft
	}
	// 1: 45 (above). 2: 40 vCPU-s free, 20×14000 + 60×4500 = 550000.
	// 3: nothing free, 1110.
	if want := []int64{45, 550, 1110}; !equal(got, want) {
		t.Fatalf("charges over the period = %v, want %v", got, want)
	}
	if _, err := Rate(p, []structs.UsageRecord{r}, Quantity{VCPUMicroseconds: -1}); !errors.Is(err, ErrInvalidAllowance) {
		t.Fatalf("negative allowance: err = %v", err)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRateRecordForACostPerSandbox is how the API's per-sandbox cost is
// computed as records arrive: RateRecord with the sandbox's time so far.
func TestRateRecordForACostPerSandbox(t *testing.T) {
	p := planWith(func(p *Plan) { p.MinimumSecondsPerSandbox = 60 })
	first := rec("a", 0, 20*sec, 1, 512, false)
	c1, err := RateRecord(p, first, 0, Quantity{})
	if err != nil {
		t.Fatal(err)
	}
	// 20×14000 + 10×4500 = 325000.
	if c1.Micros != 325 || c1.MinimumMilliseconds != 0 {
		t.Fatalf("first record: %+v", c1)
	}
	c2, err := RateRecord(p, rec("a", 20*sec, 30*sec, 1, 512, true), c1.Usage.SandboxMilliseconds, Quantity{})
	if err != nil {
		t.Fatal(err)
	}
	// 30 s + the 10 s the minimum adds: 40×14000 + 20×4500 = 650000.
	if c2.Micros != 650 || c2.MinimumMilliseconds != 10_000 {
		t.Fatalf("final record: %+v", c2)
	}
	total, _ := c1.Charged.Plus(c2.Charged)
	if m, _ := p.Price(total); m != 975 {
		t.Fatalf("sandbox cost = %d, want 975", m)
	}
	// Without the time before, the final record alone looks like a 30 s
	// sandbox and tops up 30 s: the caller must pass it.
	c3, _ := RateRecord(p, rec("a", 20*sec, 30*sec, 1, 512, true), 0, Quantity{})
	if c3.MinimumMilliseconds != 30_000 {
		t.Fatalf("alone: %+v", c3)
	}
	if _, err := RateRecord(p, first, -1, Quantity{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("negative time before: err = %v", err)
	}
	if _, err := RateRecord(Plan{}, first, 0, Quantity{}); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("invalid plan: err = %v", err)
	}
}

func TestRateRefusesMixedTeams(t *testing.T) {
	other := rec("b", 0, sec, 1, 512, false)
	other.TeamID = "other"
	_, err := Rate(DefaultPlan(), []structs.UsageRecord{rec("a", 0, sec, 1, 512, false), other}, Quantity{})
	if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "other") {
		t.Fatalf("err = %v, want ErrInvalidRecord naming the team", err)
	}
}

// TestRoundingRule shows the documented rule: money is rounded once per
// charge, from exact quantities, so rating records together equals
// pricing the sum of their quantities rated one by one, and differs from
// the sum of their rounded charges by at most half a micro per record.
func TestRoundingRule(t *testing.T) {
	p := DefaultPlan()
	const n = 1000
	records := make([]structs.UsageRecord, n)
	for i := range records {
		records[i] = rec("a", time.Duration(i)*sec, sec, 1, 1024, false) // 18.5 micros each
	}
	together, err := Rate(p, records, Quantity{})
	if err != nil {
		t.Fatal(err)
	}
	var sumMicros int64
	var sumCharged Quantity
	for _, r := range records {
		c, err := RateRecord(p, r, 0, Quantity{})
		if err != nil {
			t.Fatal(err)
		}
		sumMicros += c.Micros
		sumCharged, _ = sumCharged.Plus(c.Charged)
	}
	priced, _ := p.Price(sumCharged)
	if together.Micros != 18_500 || priced != together.Micros {
		t.Fatalf("together %d, priced sum %d; want 18500 both", together.Micros, priced)
	}
	if sumMicros != 19_000 || 2*(sumMicros-together.Micros) > n {
		t.Fatalf("sum of rounded charges = %d; want 19000, within n/2 of %d", sumMicros, together.Micros)
	}
}

// TestYearOf10000Sandboxes rates a year of 10,000 sandboxes of 8 vCPUs and
// 16 GiB: exactly, and the same in daily records as in yearly ones.
func TestYearOf10000Sandboxes(t *testing.T) {
	const (
		sandboxes = 10_000
		days      = 365
		day       = 24 * time.Hour
	)
	p := DefaultPlan()
	yearly := make([]structs.UsageRecord, sandboxes)
	for i := range yearly {
		yearly[i] = rec("sb", 0, days*day, 8, 16384, true)
		yearly[i].SandboxID = "sb" + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	c, err := Rate(p, yearly, Quantity{})
	if err != nil {
		t.Fatal(err)
	}
	// 8 × 31,536,000 s × 10,000 = 2.52288·10^12 vCPU-s × 14000 nanos =
	// 3.532032·10^16; 16 × 31,536,000 × 10,000 = 5.04576·10^12 GiB-s ×
	// 4500 = 2.270592·10^16; together 5.802624·10^16 nanos.
	if c.Micros != 58_026_240_000_000 {
		t.Fatalf("a year of 10,000 sandboxes = %d micros, want 58026240000000 ($58,026,240)", c.Micros)
	}
	// One sandbox in daily records is charged exactly its yearly record.
	daily := make([]structs.UsageRecord, days)
	for d := range daily {
		daily[d] = rec("x", time.Duration(d)*day, day, 8, 16384, d == days-1)
	}
	one, err := Rate(p, daily, Quantity{})
	if err != nil {
		t.Fatal(err)
	}
	yearOne, _ := Rate(p, yearly[:1], Quantity{})
	if one.Charged != yearOne.Charged || one.Micros != yearOne.Micros {
		t.Fatalf("daily %+v, yearly %+v", one, yearOne)
	}
	// And 10,000 of those, added as quantities, price to the same total.
	var total Quantity
	for i := 0; i < sandboxes; i++ {
		if total, err = total.Plus(one.Charged); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := p.Price(total); err != nil || m != c.Micros {
		t.Fatalf("sum of 10,000 = %d, %v; want %d", m, err, c.Micros)
	}
	// 64 vCPUs each is past what an int64 of vCPU-µs holds: an error,
	// never a wrapped total.
	for i := range yearly {
		yearly[i].VCPUs = 64
	}
	if c, err := Rate(p, yearly, Quantity{}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("64 vCPUs: %+v, %v; want ErrOverflow", c, err)
	}
}

// checkOneByOne rates records one by one with RateRecord, as a ledger
// does, threading the allowance and each sandbox's time, and checks the
// result against together, the charge of rating them all at once.
func checkOneByOne(t *testing.T, p Plan, records []structs.UsageRecord, left Quantity, together Charge) {
	t.Helper()
	var (
		usage     Usage
		billable  Quantity
		charged   Quantity
		minimum   int64
		sumMicros int64
		before    = map[string]int64{}
	)
	for _, r := range records {
		c, err := RateRecord(p, r, before[r.SandboxID], left)
		if err != nil {
			t.Fatalf("RateRecord: %v", err)
		}
		before[r.SandboxID] += c.Usage.SandboxMilliseconds
		left = c.AllowanceLeft
		usage, _ = usage.Plus(c.Usage)
		billable, _ = billable.Plus(c.Billable)
		charged, _ = charged.Plus(c.Charged)
		minimum += c.MinimumMilliseconds
		sumMicros += c.Micros
	}
	if usage != together.Usage || billable != together.Billable || charged != together.Charged ||
		minimum != together.MinimumMilliseconds || left != together.AllowanceLeft {
		t.Fatalf("one by one: usage %+v billable %+v charged %+v minimum %d left %+v\ntogether: %+v",
			usage, billable, charged, minimum, left, together)
	}
	if m, err := p.Price(charged); err != nil || m != together.Micros {
		t.Fatalf("price of the summed charges = %d, %v; together %d", m, err, together.Micros)
	}
	// Each record's rounding is off by at most half a micro.
	if d := sumMicros - together.Micros; 2*d > int64(len(records)) || -2*d > int64(len(records)) {
		t.Fatalf("sum of %d rounded charges = %d, together %d", len(records), sumMicros, together.Micros)
	}
}

// randomCase makes a plan and interleaved records of a few sandboxes
// (each a run of contiguous records, the last maybe Final) from a seed.
func randomCase(seed uint64) (Plan, []structs.UsageRecord, Quantity) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := Plan{
		ID:                       "fuzz",
		VCPUSecondNanos:          rng.Int64N(MaxPriceNanos + 1),
		GiBSecondNanos:           rng.Int64N(MaxPriceNanos + 1),
		OnMaxOfUsed:              rng.IntN(2) == 0,
		FreeVCPUSeconds:          rng.Int64N(1000),
		FreeGiBSeconds:           rng.Int64N(1000),
		MinimumSecondsPerSandbox: rng.IntN(120),
		Currency:                 "EUR",
	}
	if rng.IntN(4) == 0 {
		p.VCPUSecondNanos, p.GiBSecondNanos = 14000, 4500
	}
	left, _ := p.Allowance()
	if rng.IntN(3) == 0 {
		left = Quantity{}
	}
	var queues [][]structs.UsageRecord
	for s := 0; s < 1+rng.IntN(5); s++ {
		var q []structs.UsageRecord
		at := time.Duration(rng.Int64N(int64(time.Hour)))
		n := 1 + rng.IntN(6)
		for i := 0; i < n; i++ {
			d := time.Duration(rng.Int64N(int64(90 * time.Second)))
			r := rec(string(rune('a'+s)), at, d, float64(rng.IntN(16000)+1)/1000, rng.IntN(32768), i == n-1 && rng.IntN(3) > 0)
			r = used(r, rng.Float64()*20*d.Seconds(), rng.Int64N(40<<30))
			q = append(q, r)
			at += d
		}
		queues = append(queues, q)
	}
	var records []structs.UsageRecord
	for len(queues) > 0 {
		i := rng.IntN(len(queues))
		records = append(records, queues[i][0])
		if queues[i] = queues[i][1:]; len(queues[i]) == 0 {
			queues = append(queues[:i], queues[i+1:]...)
		}
	}
	return p, records, left
}

func checkRandomCase(t *testing.T, seed uint64) {
	p, records, left := randomCase(seed)
	together, err := Rate(p, records, left)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	checkOneByOne(t, p, records, left, together)
	// Shuffled, the records cost the same.
	rng := rand.New(rand.NewPCG(seed, 1))
	shuffled := append([]structs.UsageRecord(nil), records...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if c, err := Rate(p, shuffled, left); err != nil || c != together {
		t.Fatalf("seed %d: shuffled %+v, %v; want %+v", seed, c, err, together)
	}
}

func TestOneByOneEqualsTogether(t *testing.T) {
	for seed := uint64(0); seed < 2000; seed++ {
		checkRandomCase(t, seed)
	}
}

// FuzzOneByOneEqualsTogether: go test -fuzz FuzzOneByOneEqualsTogether ./billing/
func FuzzOneByOneEqualsTogether(f *testing.F) {
	for _, s := range []uint64{0, 1, 42, 1 << 63} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkRandomCase(t, seed) })
}
