package billing

import (
	"errors"
	"fmt"

	"github.com/codeint/codeint/controlplane/structs"
)

// ErrInvalidAllowance is wrapped when the allowance left passed to Rate is
// negative.
var ErrInvalidAllowance = errors.New("invalid allowance")

// Charge is what a set of usage records costs a team under a plan.
//
// Quantities are exact; Micros is the only rounded figure, computed once
// from Charged by Plan.Price. Charges of parts therefore add up exactly in
// their quantities: Price(a.Charged + b.Charged) is the Micros of rating
// a's and b's records together (the allowance threaded from a to b).
type Charge struct {
	PlanID   string
	Currency string

	Usage Usage // what the records metered

	// Billable is what the plan bills before the allowance: the
	// allocation of each record, or the larger of allocation and use on
	// an OnMaxOfUsed plan, plus the minimum's top-up.
	Billable Quantity
	// MinimumMilliseconds is the sandbox time the per-sandbox minimum
	// added (part of Billable).
	MinimumMilliseconds int64

	Free          Quantity // the allowance consumed
	Charged       Quantity // Billable − Free: what is priced
	AllowanceLeft Quantity // the allowance left after this charge

	Micros int64 // Price(Charged), in micro-units of currency
}

// Rate rates records of one team under plan p, with allowanceLeft of the
// period's free allowance still unused (Plan.Allowance at the start of a
// period, the previous charge's AllowanceLeft after; a zero Quantity for
// the list price, e.g. a sandbox's own cost).
//
// Each record bills its allocation (or, on an OnMaxOfUsed plan, the larger
// of allocation and use, per resource and per record). The minimum tops a
// sandbox up once, when its Final record is among the records: its
// length is the sum of the lengths of its records given here, so pass all
// of a sandbox's records together, or rate record by record with
// RateRecord. The allowance is taken from the total. The result does not
// depend on the order of the records (but for a sandbox with two Final
// records, which an agent never sends: the first one's allocation is
// used).
func Rate(p Plan, records []structs.UsageRecord, allowanceLeft Quantity) (Charge, error) {
	if err := p.Validate(); err != nil {
		return Charge{}, err
	}
	var (
		usage    Usage
		billable Quantity
		team     string
		lengths  = map[string]int64{}    // sandbox → ms of its records here
		finals   = map[string]measured{} // sandbox → its Final record
		order    []string                // sandboxes with a Final record, in the order first seen
	)
	for i, r := range records {
		if i == 0 {
			team = r.TeamID
		} else if r.TeamID != team {
			return Charge{}, fmt.Errorf("%w: records of teams %q and %q in one charge; the allowance is a team's",
				ErrInvalidRecord, team, r.TeamID)
		}
		m, err := measure(r)
		if err != nil {
			return Charge{}, err
		}
		if usage, err = usage.Plus(m.usage); err != nil {
			return Charge{}, err
		}
		if billable, err = billable.Plus(m.billable(p)); err != nil {
			return Charge{}, err
		}
		lengths[r.SandboxID] += m.millis // ≤ usage.SandboxMilliseconds, which did not overflow
		if _, seen := finals[r.SandboxID]; r.Final && !seen {
			finals[r.SandboxID] = m
			order = append(order, r.SandboxID)
		}
	}
	var minimum int64
	for _, sb := range order {
		q, ms, err := topUp(p, finals[sb], lengths[sb])
		if err != nil {
			return Charge{}, err
		}
		if billable, err = billable.Plus(q); err != nil {
			return Charge{}, err
		}
		minimum += ms // ≤ an hour per sandbox, fewer sandboxes than records
	}
	return settle(p, usage, billable, minimum, allowanceLeft)
}

// RateRecord rates one record as it arrives, the way a ledger ingests
// them: sandboxMillisecondsBefore is how long the record's sandbox ran in
// its records rated before (Usage.SandboxMilliseconds of them), which the
// minimum needs on a Final record; allowanceLeft is as for Rate.
//
// Rating a sandbox's records one by one with RateRecord, threading the
// allowance, gives Charged quantities that add up exactly to those of
// Rate over all of them.
func RateRecord(p Plan, r structs.UsageRecord, sandboxMillisecondsBefore int64, allowanceLeft Quantity) (Charge, error) {
	if err := p.Validate(); err != nil {
		return Charge{}, err
	}
	if sandboxMillisecondsBefore < 0 {
		return Charge{}, fmt.Errorf("%w: record %s/%d of sandbox %s: the sandbox ran %d ms before it; that cannot be negative",
			ErrInvalidRecord, r.NodeID, r.Seq, r.SandboxID, sandboxMillisecondsBefore)
	}
	m, err := measure(r)
	if err != nil {
		return Charge{}, err
	}
	billable := m.billable(p)
	var minimum int64
	if r.Final {
		length, ok := add(sandboxMillisecondsBefore, m.millis)
		if !ok {
			return Charge{}, fmt.Errorf("the length of sandbox %s: %w", r.SandboxID, ErrOverflow)
		}
		var q Quantity
		if q, minimum, err = topUp(p, m, length); err != nil {
			return Charge{}, err
		}
		if billable, err = billable.Plus(q); err != nil {
			return Charge{}, err
		}
	}
	return settle(p, m.usage, billable, minimum, allowanceLeft)
}

// topUp is what the minimum adds for a sandbox that ran lengthMs in all,
// at the allocation of its Final record: the missing time and its
// quantity.
func topUp(p Plan, final measured, lengthMs int64) (Quantity, int64, error) {
	short := int64(p.MinimumSecondsPerSandbox)*millisecondsPerSecond - lengthMs
	if short <= 0 {
		return Quantity{}, 0, nil
	}
	vcpu, ok1 := mul(final.milliVCPU, short)
	mem, ok2 := mul(final.mib, short)
	if !ok1 || !ok2 {
		return Quantity{}, 0, fmt.Errorf("the minimum of a sandbox: %w", ErrOverflow)
	}
	return Quantity{VCPUMicroseconds: vcpu, MiBMilliseconds: mem}, short, nil
}

// settle takes the allowance from billable and prices the rest.
func settle(p Plan, usage Usage, billable Quantity, minimum int64, left Quantity) (Charge, error) {
	if left.VCPUMicroseconds < 0 || left.MiBMilliseconds < 0 {
		return Charge{}, fmt.Errorf("%w: %d vCPU-µs and %d MiB-ms left; neither can be negative",
			ErrInvalidAllowance, left.VCPUMicroseconds, left.MiBMilliseconds)
	}
	free := Quantity{
		VCPUMicroseconds: min(billable.VCPUMicroseconds, left.VCPUMicroseconds),
		MiBMilliseconds:  min(billable.MiBMilliseconds, left.MiBMilliseconds),
	}
	charged := Quantity{
		VCPUMicroseconds: billable.VCPUMicroseconds - free.VCPUMicroseconds,
		MiBMilliseconds:  billable.MiBMilliseconds - free.MiBMilliseconds,
	}
	micros, err := p.Price(charged)
	if err != nil {
		return Charge{}, err
	}
	return Charge{
		PlanID:              p.ID,
		Currency:            p.Currency,
		Usage:               usage,
		Billable:            billable,
		MinimumMilliseconds: minimum,
		Free:                free,
		Charged:             charged,
		AllowanceLeft: Quantity{
			VCPUMicroseconds: left.VCPUMicroseconds - free.VCPUMicroseconds,
			MiBMilliseconds:  left.MiBMilliseconds - free.MiBMilliseconds,
		},
		Micros: micros,
	}, nil
}
