package billing

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ivs := []Interval{
		{SandboxID: "a", VCPUs: 2, MemoryMB: 1024, Start: at(0), End: at(100)},      // 50 s inside [50, 200)
		{SandboxID: "b", VCPUs: 1, MemoryMB: 512, Start: at(150), End: time.Time{}}, // running: 150..180 (now)
		{SandboxID: "c", VCPUs: 1, MemoryMB: 512, Start: at(300), End: at(400)},     // outside
	}
	r, err := Summarize(ivs, at(50), at(200), at(180))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sandboxes != 2 {
		t.Fatalf("sandboxes = %d, want 2", r.Sandboxes)
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
	check("sandbox seconds", r.SandboxSeconds, 80)
	check("vcpu seconds", r.VCPUSeconds, 50*2+30*1)
	check("GiB seconds", r.GiBSeconds, 50*1+30*0.5)

	if _, err := Summarize(nil, at(10), at(0), at(0)); !errors.Is(err, ErrBadWindow) {
		t.Fatalf("reversed window: err = %v", err)
	}
}
