package nomad

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidPolicy is wrapped by every error Policy.Validate returns.
var ErrInvalidPolicy = errors.New("nomad: invalid scaling policy")

// Capacity is a region's capacity summary, from codeint's own state.
type Capacity struct {
	Region                      string
	Nodes                       int // ready, not draining
	TotalVCPUs, FreeVCPUs       float64
	TotalMemoryMB, FreeMemoryMB int
}

// Policy says when and how far the Scaler changes the count of the agent
// job's group.
type Policy struct {
	Job, Group string // the Nomad job and task group that run the agents
	Min, Max   int    // bounds of the group's count
	// ScaleUpBelow: scale up when the free fraction (the smaller of CPU
	// and memory) is under this, e.g. 0.2.
	ScaleUpBelow float64
	// ScaleDownAbove: scale down when the free fraction is above this,
	// e.g. 0.6.
	ScaleDownAbove float64
	// Step is how many nodes one change adds or removes (1 when zero).
	Step int
	// Cooldown: no change sooner than this after the last one.
	Cooldown time.Duration
}

// Decision is what Decide wants of a region's group.
type Decision struct {
	Region        string
	Current, Want int
	Reason        string // a sentence a person understands
}

// Validate reports what is wrong with p, wrapping ErrInvalidPolicy: Job
// and Group must be set, 0 <= Min <= Max, 0 <= ScaleUpBelow <
// ScaleDownAbove <= 1, and Step and Cooldown must not be negative.
func (p Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...))
	}
	if p.Job == "" {
		bad("no job")
	}
	if p.Group == "" {
		bad("no group")
	}
	if p.Min < 0 || p.Min > p.Max {
		bad("bounds min %d, max %d: want 0 <= min <= max", p.Min, p.Max)
	}
	if p.ScaleUpBelow < 0 || p.ScaleUpBelow >= p.ScaleDownAbove || p.ScaleDownAbove > 1 {
		bad("thresholds up below %g, down above %g: want 0 <= up < down <= 1", p.ScaleUpBelow, p.ScaleDownAbove)
	}
	if p.Step < 0 {
		bad("negative step %d", p.Step)
	}
	if p.Cooldown < 0 {
		bad("negative cooldown %s", p.Cooldown)
	}
	return errors.Join(errs...)
}

// Decide returns the count the group should have, given its current
// count, the region's capacity c and the time of the last change (zero
// when there was none). The rules, in order:
//
//   - a count outside [Min, Max] is brought to the nearest bound at once,
//     cooldown or not (the policy changed, or someone scaled by hand);
//   - within Cooldown of the last change, nothing changes;
//   - a free fraction (the smaller of CPU's and memory's) under
//     ScaleUpBelow adds Step nodes, up to Max; no ready node, or no total
//     CPU or memory, counts as a free fraction of 0 and adds nodes too;
//   - one above ScaleDownAbove removes Step nodes, down to Min, unless the
//     free fraction left once that many average nodes are gone would be
//     under ScaleUpBelow, or no node would be left, which would only bring
//     them back (hysteresis).
//
// Decide is pure: the same arguments give the same Decision.
func Decide(p Policy, current int, c Capacity, now, lastChange time.Time) Decision {
	d := Decision{Region: c.Region, Current: current, Want: current}
	step := max(p.Step, 1)
	switch {
	case current < p.Min:
		d.Want = p.Min
		d.Reason = fmt.Sprintf("The group has %s, under the minimum of %d: scaling to %d.", nodeCount(current), p.Min, p.Min)
		return d
	case current > p.Max:
		d.Want = p.Max
		d.Reason = fmt.Sprintf("The group has %s, over the maximum of %d: scaling to %d.", nodeCount(current), p.Max, p.Max)
		return d
	}
	if !lastChange.IsZero() && now.Sub(lastChange) < p.Cooldown {
		d.Reason = fmt.Sprintf("The last change was %s ago, within the %s cooldown: keeping %s.",
			now.Sub(lastChange).Round(time.Second), p.Cooldown, nodeCount(current))
		return d
	}
	free, empty, detail := freeFraction(c)
	switch {
	case empty && current >= p.Max:
		d.Reason = fmt.Sprintf("No ready node reports capacity, but the group is at its maximum: keeping %s.", nodeCount(current))
	case empty:
		d.Want = min(current+step, p.Max)
		d.Reason = fmt.Sprintf("No ready node reports capacity: adding %s (%d to %d).", nodeCount(d.Want-current), current, d.Want)
	case free < p.ScaleUpBelow && current >= p.Max:
		d.Reason = fmt.Sprintf("Free capacity is %s (%s), under %s, but the group is at its maximum: keeping %s.",
			pct(free), detail, pct(p.ScaleUpBelow), nodeCount(current))
	case free < p.ScaleUpBelow:
		d.Want = min(current+step, p.Max)
		d.Reason = fmt.Sprintf("Free capacity is %s (%s), under %s: adding %s (%d to %d).",
			pct(free), detail, pct(p.ScaleUpBelow), nodeCount(d.Want-current), current, d.Want)
	case free > p.ScaleDownAbove && current <= p.Min:
		d.Reason = fmt.Sprintf("Free capacity is %s (%s), over %s, but the group is at its minimum: keeping %s.",
			pct(free), detail, pct(p.ScaleDownAbove), nodeCount(current))
	case free > p.ScaleDownAbove:
		remove := min(step, current-p.Min)
		after, gone := freeAfterRemoving(c, remove)
		if gone {
			d.Reason = fmt.Sprintf("Free capacity is %s (%s), over %s, but removing %s would leave no ready node: keeping %s.",
				pct(free), detail, pct(p.ScaleDownAbove), nodeCount(remove), nodeCount(current))
			return d
		}
		if after < p.ScaleUpBelow {
			d.Reason = fmt.Sprintf("Free capacity is %s (%s), over %s, but removing %s would leave %s free, under %s: keeping %s.",
				pct(free), detail, pct(p.ScaleDownAbove), nodeCount(remove), pct(after), pct(p.ScaleUpBelow), nodeCount(current))
			return d
		}
		d.Want = current - remove
		d.Reason = fmt.Sprintf("Free capacity is %s (%s), over %s: removing %s (%d to %d), which leaves about %s free.",
			pct(free), detail, pct(p.ScaleDownAbove), nodeCount(remove), current, d.Want, pct(after))
	default:
		d.Reason = fmt.Sprintf("Free capacity is %s (%s), between %s and %s: keeping %s.",
			pct(free), detail, pct(p.ScaleUpBelow), pct(p.ScaleDownAbove), nodeCount(current))
	}
	return d
}

// freeFraction is the smaller of c's free CPU and free memory fractions,
// and a phrase that gives both. empty is true when c has no ready node or
// no total CPU or memory: that counts as 0 free.
func freeFraction(c Capacity) (free float64, empty bool, detail string) {
	if c.Nodes <= 0 || c.TotalVCPUs <= 0 || c.TotalMemoryMB <= 0 {
		return 0, true, ""
	}
	cpu := fraction(c.FreeVCPUs, c.TotalVCPUs)
	mem := fraction(float64(c.FreeMemoryMB), float64(c.TotalMemoryMB))
	return min(cpu, mem), false, fmt.Sprintf("CPU %s, memory %s on %s", pct(cpu), pct(mem), nodeCount(c.Nodes))
}

// freeAfterRemoving is the free fraction left once k average nodes of c
// are gone and what they ran has moved to the others. empty is true when
// no ready node would be left.
func freeAfterRemoving(c Capacity, k int) (free float64, empty bool) {
	left := c.Nodes - k
	if left <= 0 || c.TotalVCPUs <= 0 || c.TotalMemoryMB <= 0 {
		return 0, true
	}
	share := float64(left) / float64(c.Nodes) // of the total that stays
	cpuTotal := c.TotalVCPUs * share
	memTotal := float64(c.TotalMemoryMB) * share
	cpu := fraction(c.FreeVCPUs-(c.TotalVCPUs-cpuTotal), cpuTotal)
	mem := fraction(float64(c.FreeMemoryMB)-(float64(c.TotalMemoryMB)-memTotal), memTotal)
	return min(cpu, mem), false
}

// fraction is free/total within [0, 1].
func fraction(free, total float64) float64 {
	if total <= 0 {
		return 0
	}
	return min(max(free/total, 0), 1)
}

// pct writes a fraction as a whole percentage.
func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// nodeCount writes a count of nodes.
func nodeCount(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}
