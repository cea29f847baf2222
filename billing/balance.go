package billing

import (
	"errors"
	"fmt"
)

// ErrInvalidEntry is wrapped by errors about a balance entry of unknown
// kind or negative amount.
var ErrInvalidEntry = errors.New("invalid balance entry")

// EntryKind says which way an entry moves a balance.
type EntryKind string

// The kinds of balance entries.
const (
	EntryGrant  EntryKind = "GRANT"  // credit given: a trial, a goodwill credit; adds
	EntryTopUp  EntryKind = "TOP_UP" // money paid in; adds
	EntryCharge EntryKind = "CHARGE" // usage rated (see Price); subtracts
)

// Entry is one movement of a team's balance. Micros is never negative:
// the kind gives the direction.
type Entry struct {
	Kind   EntryKind
	Micros int64
}

// Balance is what a team has: what it was granted and paid in, less what
// its usage cost, in micro-units of currency. Micros may be negative: usage
// goes on being charged while running sandboxes are being stopped.
type Balance struct {
	GrantedMicros  int64
	ToppedUpMicros int64
	ChargedMicros  int64
	Micros         int64 // Granted + ToppedUp − Charged
}

// BalanceOf adds up a team's entries, or returns an error wrapping
// ErrInvalidEntry or ErrOverflow.
func BalanceOf(entries []Entry) (Balance, error) {
	var b Balance
	for i, e := range entries {
		if e.Micros < 0 {
			return Balance{}, fmt.Errorf("%w: entry %d (%s) is %d micros; an amount cannot be negative, its kind gives the direction",
				ErrInvalidEntry, i, e.Kind, e.Micros)
		}
		var total *int64
		switch e.Kind {
		case EntryGrant:
			total = &b.GrantedMicros
		case EntryTopUp:
			total = &b.ToppedUpMicros
		case EntryCharge:
			total = &b.ChargedMicros
		default:
			return Balance{}, fmt.Errorf("%w: entry %d has the kind %q; it must be %s, %s or %s",
				ErrInvalidEntry, i, e.Kind, EntryGrant, EntryTopUp, EntryCharge)
		}
		s, ok := add(*total, e.Micros)
		if !ok {
			return Balance{}, fmt.Errorf("balance at entry %d: %w", i, ErrOverflow)
		}
		*total = s
	}
	in, ok1 := add(b.GrantedMicros, b.ToppedUpMicros)
	net, ok2 := add(in, -b.ChargedMicros)
	if !ok1 || !ok2 {
		return Balance{}, fmt.Errorf("balance: %w", ErrOverflow)
	}
	b.Micros = net
	return b, nil
}
