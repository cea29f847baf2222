package billing

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Interval is the time one sandbox held its allocation. End is zero while
// it still runs.
type Interval struct {
	SandboxID string
	TeamID    string
	VCPUs     float64
	MemoryMB  int
	Start     time.Time
	End       time.Time
}

// Report is usage within a window.
type Report struct {
	From, To       time.Time
	Sandboxes      int // sandboxes with any usage in the window
	SandboxSeconds float64
	VCPUSeconds    float64
	GiBSeconds     float64
}

// ErrBadWindow is returned when a report window ends before it starts.
var ErrBadWindow = errors.New("billing: the window ends before it starts")

// Summarize adds up the usage of intervals inside [from, to). An interval
// still running counts up to now.
func Summarize(intervals []Interval, from, to, now time.Time) (Report, error) {
	if to.Before(from) {
		return Report{}, fmt.Errorf("summarize %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), ErrBadWindow)
	}
	r := Report{From: from, To: to}
	for _, iv := range intervals {
		end := iv.End
		if end.IsZero() {
			end = now
		}
		secs := overlap(iv.Start, end, from, to).Seconds()
		if secs <= 0 {
			continue
		}
		r.Sandboxes++
		r.SandboxSeconds += secs
		r.VCPUSeconds += secs * iv.VCPUs
		r.GiBSeconds += secs * float64(iv.MemoryMB) / 1024
	}
	return r, nil
}

func overlap(aStart, aEnd, bStart, bEnd time.Time) time.Duration {
	start, end := aStart, aEnd
	if bStart.After(start) {
		start = bStart
	}
	if bEnd.Before(end) {
		end = bEnd
	}
	if !end.After(start) {
		return 0
	}
	return end.Sub(start)
}

// Plan is a price plan in micro-units of currency (1e-6).
type Plan struct {
	Name                string
	MicrosPerVCPUSecond float64
	MicrosPerGiBSecond  float64
}

// DefaultPlan is E2B's published per-second price: $0.000014 per
// vCPU-second and $0.0000045 per GiB-second.
func DefaultPlan() Plan {
	return Plan{Name: "default", MicrosPerVCPUSecond: 14, MicrosPerGiBSecond: 4.5}
}

// ErrBadPrice is returned for a negative or non-finite price.
var ErrBadPrice = errors.New("billing: prices must be finite and not negative")

// Cost rates a report under the plan, rounded to whole micro-units.
func (p Plan) Cost(r Report) (int64, error) {
	for _, v := range []float64{p.MicrosPerVCPUSecond, p.MicrosPerGiBSecond} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("plan %q: %w", p.Name, ErrBadPrice)
		}
	}
	return int64(math.Round(r.VCPUSeconds*p.MicrosPerVCPUSecond + r.GiBSeconds*p.MicrosPerGiBSecond)), nil
}
