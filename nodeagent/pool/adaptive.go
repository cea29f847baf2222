package pool

import (
	"math"
	"time"
)

// idleDemand is the expected number of claims during one refill below
// which an adaptive pool wants no slot at all. Without it the decayed rate,
// which never reaches zero, would keep one slot forever; above it any real
// demand rounds up to at least one slot.
const idleDemand = 0.01

// rateEstimator is an exponentially decayed event counter: every event
// adds 1 and the score halves every half-life, so for a steady rate λ the
// score settles at λ·τ with τ = halfLife/ln 2, and score/τ estimates λ. A
// burst of n claims at once reads as n/τ per second, decaying from there.
// It costs one exp2 per event and needs no ticker.
type rateEstimator struct {
	score float64
	at    time.Time // of the last event
}

func (e *rateEstimator) decayed(now time.Time, halfLife time.Duration) float64 {
	if e.score == 0 {
		return 0
	}
	dt := now.Sub(e.at)
	if dt <= 0 {
		return e.score
	}
	return e.score * math.Exp2(-dt.Seconds()/halfLife.Seconds())
}

// observe records one event at now.
func (e *rateEstimator) observe(now time.Time, halfLife time.Duration) {
	e.score = e.decayed(now, halfLife) + 1
	if now.After(e.at) {
		e.at = now
	}
}

// rate is the estimated events per second at now.
func (e *rateEstimator) rate(now time.Time, halfLife time.Duration) float64 {
	return e.decayed(now, halfLife) * math.Ln2 / halfLife.Seconds()
}

// adaptiveSize is clamp(ceil(rate × refill × headroom), lo, hi), where a
// demand at or below idleDemand counts as none (see Spec.Adaptive).
func adaptiveSize(rate float64, refill time.Duration, headroom float64, lo, hi int) int {
	x := rate * refill.Seconds() * headroom
	n := 0
	switch {
	case !(x <= float64(hi)): // also NaN and +Inf
		n = hi
	case x > idleDemand:
		n = int(math.Ceil(x - idleDemand))
	}
	return min(max(n, lo), hi)
}

// hysteresis lets an adaptive target rise at once but fall only after the
// computed size has stayed below it for a whole delay: slots cost a start
// (~90 ms of CPU) to replace, so stopping them in a short lull between two
// bursts is waste.
type hysteresis struct {
	target   int
	set      bool
	lowSince time.Time // zero while the computed size is not below target
}

// apply folds the computed size n in and returns the target.
func (h *hysteresis) apply(n int, now time.Time, delay time.Duration) int {
	switch {
	case !h.set || n >= h.target:
		h.target, h.set, h.lowSince = n, true, time.Time{}
	case h.lowSince.IsZero():
		h.lowSince = now
	case now.Sub(h.lowSince) >= delay:
		h.target, h.lowSince = n, time.Time{}
	}
	return h.target
}
