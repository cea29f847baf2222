package billing

import (
	"errors"
	"fmt"
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
