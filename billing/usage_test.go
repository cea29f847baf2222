package billing

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

func TestSumAddsRecordsExactly(t *testing.T) {
	records := []structs.UsageRecord{
		used(rec("a", 0, 60*sec, 1, 512, false), 30, 256*MiB),   // half the vCPU, half the memory
		used(rec("a", 60*sec, 30*sec, 1, 512, true), 45, 1<<30), // 1.5 vCPUs, 1 GiB peak
		used(rec("b", 0, 10*sec, 2, 2048, true), 0, 0),
	}
	u, err := Sum(records)
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{
		Records:             3,
		SandboxMilliseconds: 100_000,
		VCPUMicroseconds:    (60 + 30 + 20) * 1e6,
		MiBMilliseconds:     512*90_000 + 2048*10_000,
		CPUMicroseconds:     75 * 1e6,
		UsedMiBMilliseconds: 256*60_000 + 1024*30_000,
	}
	if u != want {
		t.Fatalf("Sum = %+v\nwant  %+v", u, want)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"SandboxSeconds", u.SandboxSeconds(), 100},
		{"VCPUSeconds", u.VCPUSeconds(), 110},
		{"GiBSeconds", u.GiBSeconds(), 45 + 20},
		{"CPUSeconds", u.CPUSeconds(), 75},
		{"UsedGiBSeconds", u.UsedGiBSeconds(), 15 + 30},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Add one by one is Sum, whatever the order.
	var v Usage
	for i := len(records) - 1; i >= 0; i-- {
		if v, err = v.Add(records[i]); err != nil {
			t.Fatal(err)
		}
	}
	if v != u {
		t.Fatalf("Add in reverse = %+v, want %+v", v, u)
	}
}

func TestMeasureRounding(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    structs.UsageRecord
		want Usage
	}{
		{"length rounds down under half a millisecond", rec("a", 0, 1499*time.Microsecond, 1, 0, false),
			Usage{Records: 1, SandboxMilliseconds: 1, VCPUMicroseconds: 1000}},
		{"length rounds half up", rec("a", 0, 1500*time.Microsecond, 1, 0, false),
			Usage{Records: 1, SandboxMilliseconds: 2, VCPUMicroseconds: 2000}},
		{"vCPUs round to the thousandth, half up", rec("a", 0, sec, 0.0015, 0, false),
			Usage{Records: 1, SandboxMilliseconds: 1000, VCPUMicroseconds: 2 * 1000}},
		{"fractional vCPUs", rec("a", 0, sec, 0.25, 0, false),
			Usage{Records: 1, SandboxMilliseconds: 1000, VCPUMicroseconds: 250 * 1000}},
		{"peak rounds to the MiB, half up", used(rec("a", 0, sec, 0, 0, false), 0, MiB+MiB/2),
			Usage{Records: 1, SandboxMilliseconds: 1000, UsedMiBMilliseconds: 2 * 1000}},
		{"peak under half a MiB", used(rec("a", 0, sec, 0, 0, false), 0, MiB/2-1),
			Usage{Records: 1, SandboxMilliseconds: 1000}},
		{"CPU time to the microsecond", used(rec("a", 0, sec, 0, 0, false), 0.0000015, 0),
			Usage{Records: 1, SandboxMilliseconds: 1000, CPUMicroseconds: 2}},
		{"empty record", rec("a", 0, 0, 4, 4096, true), Usage{Records: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Usage{}.Add(tc.r)
			if err != nil || got != tc.want {
				t.Fatalf("Add = %+v, %v\nwant  %+v", got, err, tc.want)
			}
		})
	}
}

func TestInvalidRecords(t *testing.T) {
	good := rec("a", 0, sec, 1, 512, false)
	for _, tc := range []struct {
		name string
		edit func(*structs.UsageRecord)
		want error
		says string
	}{
		{"ends before it starts", func(r *structs.UsageRecord) { r.End = r.Start.Add(-1) }, ErrInvalidRecord, "before it starts"},
		{"no start", func(r *structs.UsageRecord) { r.Start = time.Time{} }, ErrInvalidRecord, "no start"},
		{"too long", func(r *structs.UsageRecord) { r.Start = time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalidRecord, "longer than"},
		{"NaN vCPUs", func(r *structs.UsageRecord) { r.VCPUs = math.NaN() }, ErrInvalidRecord, "vCPUs"},
		{"negative vCPUs", func(r *structs.UsageRecord) { r.VCPUs = -1 }, ErrInvalidRecord, "vCPUs"},
		{"absurd vCPUs", func(r *structs.UsageRecord) { r.VCPUs = 1e300 }, ErrInvalidRecord, "vCPUs"},
		{"infinite vCPUs", func(r *structs.UsageRecord) { r.VCPUs = math.Inf(1) }, ErrInvalidRecord, "vCPUs"},
		{"negative memory", func(r *structs.UsageRecord) { r.MemoryMB = -512 }, ErrInvalidRecord, "memory"},
		{"NaN CPU seconds", func(r *structs.UsageRecord) { r.CPUSeconds = math.NaN() }, ErrInvalidRecord, "CPU-seconds"},
		{"negative CPU seconds", func(r *structs.UsageRecord) { r.CPUSeconds = -1 }, ErrInvalidRecord, "CPU-seconds"},
		{"negative peak", func(r *structs.UsageRecord) { r.PeakMemoryBytes = -1 }, ErrInvalidRecord, "peak"},
		{"memory × time overflows", func(r *structs.UsageRecord) {
			r.MemoryMB = math.MaxInt
			r.End = r.Start.Add(1000 * time.Hour)
		}, ErrOverflow, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			before := Usage{Records: 7}
			got, err := before.Add(r)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Add: err = %v; want %v saying %q", err, tc.want, tc.says)
			}
			if got != before {
				t.Fatalf("Add changed the usage on error: %+v", got)
			}
			if _, err := Rate(DefaultPlan(), []structs.UsageRecord{good, r}, Quantity{}); !errors.Is(err, tc.want) {
				t.Fatalf("Rate: err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUsagePlusOverflows(t *testing.T) {
	u := Usage{CPUMicroseconds: math.MaxInt64}
	if _, err := u.Plus(Usage{CPUMicroseconds: 1}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("err = %v, want ErrOverflow", err)
	}
	if _, err := (Quantity{MiBMilliseconds: math.MaxInt64}).Plus(Quantity{MiBMilliseconds: 1}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("err = %v, want ErrOverflow", err)
	}
}
