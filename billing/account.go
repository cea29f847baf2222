package billing

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidCredit is wrapped by errors about a credit that cannot be
// added. The API answers it with INVALID_ARGUMENT.
var ErrInvalidCredit = errors.New("invalid credit")

// ErrInvalidChange is wrapped by errors about an account change that sets
// nothing or several things, or names no Stripe customer.
var ErrInvalidChange = errors.New("invalid account change")

// MaxCreditMicros bounds one credit: 10^15 micros, a billion units of
// currency.
const MaxCreditMicros = MaxLimitMicros

// Account is what a team is billed under: its plan, its spend limits and
// the credits it was given or paid in. The control plane keeps one per
// team that has any of them; a team without one is billed under the
// deployment's default plan, with no limits and no credits.
type Account struct {
	TeamID  string   `json:"teamId"`
	Plan    *Plan    `json:"plan,omitempty"`   // nil: the deployment's default plan
	Limits  *Limits  `json:"limits,omitempty"` // nil: no limits, never exhausted
	Credits []Credit `json:"credits,omitempty"`
	// StripeCustomerID is the team's customer in Stripe, for the meter
	// events exporter; "" when the team is not billed through Stripe.
	StripeCustomerID string    `json:"stripeCustomerId,omitempty"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// Credit is a grant or a top-up of a team's balance. ID makes adding it
// idempotent: a credit whose ID the account holds is not added again, and
// another credit under that ID is refused.
type Credit struct {
	ID     string    `json:"id"`
	Kind   EntryKind `json:"kind"` // EntryGrant or EntryTopUp
	Micros int64     `json:"micros"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
}

// AccountChange is one change to an account; exactly one of its fields
// is set (ClearLimits counts as set when true).
type AccountChange struct {
	Plan        *Plan   `json:"plan,omitempty"`
	Limits      *Limits `json:"limits,omitempty"`
	ClearLimits bool    `json:"clearLimits,omitempty"`
	Credit      *Credit `json:"credit,omitempty"`
	// StripeCustomer sets the Stripe customer ("" clears it).
	StripeCustomer *string `json:"stripeCustomer,omitempty"`
}

// Validate says whether the change can be applied, in an error wrapping
// ErrInvalidChange, ErrInvalidPlan, ErrInvalidLimits or ErrInvalidCredit.
func (c AccountChange) Validate() error {
	set := 0
	for _, isSet := range []bool{c.Plan != nil, c.Limits != nil, c.ClearLimits, c.Credit != nil, c.StripeCustomer != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("%w: an account change sets exactly one of a plan, limits, no limits, a credit or a Stripe customer (%d set)", ErrInvalidChange, set)
	}
	switch {
	case c.Plan != nil:
		return c.Plan.Validate()
	case c.Limits != nil:
		return c.Limits.Validate()
	case c.Credit != nil:
		return c.Credit.Validate()
	case c.StripeCustomer != nil:
		return validStripeCustomer(*c.StripeCustomer)
	}
	return nil
}

// validStripeCustomer accepts "" (none) or a Stripe customer id: "cus_"
// and letters and digits, at most 255 characters in all.
func validStripeCustomer(id string) error {
	if id == "" {
		return nil
	}
	ok := strings.HasPrefix(id, "cus_") && len(id) > len("cus_") && len(id) <= 255
	for _, r := range id[min(len(id), len("cus_")):] {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}
	if !ok {
		return fmt.Errorf("%w: %q is not a Stripe customer id (cus_ and letters and digits)", ErrInvalidChange, id)
	}
	return nil
}

// Validate says whether the credit can be added.
func (c Credit) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidCredit, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == "" || len(c.ID) > 128:
		return bad("a credit needs an id of 1 to 128 characters")
	case c.Kind != EntryGrant && c.Kind != EntryTopUp:
		return bad("the kind %q is not %s or %s", c.Kind, EntryGrant, EntryTopUp)
	case c.Micros <= 0 || c.Micros > MaxCreditMicros:
		return bad("the amount is %d micros; it must be over 0 and at most %d", c.Micros, int64(MaxCreditMicros))
	case len(c.Note) > 500:
		return bad("the note is %d characters; at most 500", len(c.Note))
	}
	return nil
}

// With returns the account with the change applied at the time at, and
// whether it changed anything (a credit already held does not). The
// receiver is not modified.
func (a Account) With(c AccountChange, at time.Time) (Account, bool, error) {
	if err := c.Validate(); err != nil {
		return a, false, err
	}
	switch {
	case c.Plan != nil:
		p := *c.Plan
		a.Plan = &p
	case c.Limits != nil:
		l := *c.Limits
		a.Limits = &l
	case c.ClearLimits:
		if a.Limits == nil {
			return a, false, nil
		}
		a.Limits = nil
	case c.StripeCustomer != nil:
		a.StripeCustomerID = *c.StripeCustomer
	case c.Credit != nil:
		if held, ok := a.Credit(c.Credit.ID); ok {
			if held.Kind != c.Credit.Kind || held.Micros != c.Credit.Micros {
				return a, false, fmt.Errorf("%w: the id %q is that of another credit (%s of %d micros)",
					ErrInvalidCredit, c.Credit.ID, held.Kind, held.Micros)
			}
			return a, false, nil
		}
		a.Credits = append(a.Credits[:len(a.Credits):len(a.Credits)], *c.Credit)
	}
	a.UpdatedAt = at
	return a, true, nil
}

// Credit returns the credit with the id, if the account holds it.
func (a Account) Credit(id string) (Credit, bool) {
	for _, c := range a.Credits {
		if c.ID == id {
			return c, true
		}
	}
	return Credit{}, false
}

// PlanOr is the account's plan, or def when it has none.
func (a Account) PlanOr(def Plan) Plan {
	if a.Plan != nil {
		return *a.Plan
	}
	return def
}

// Balance is the account's balance once chargedMicros of usage is taken
// from its credits.
func (a Account) Balance(chargedMicros int64) (Balance, error) {
	entries := make([]Entry, 0, len(a.Credits)+1)
	for _, c := range a.Credits {
		entries = append(entries, Entry{Kind: c.Kind, Micros: c.Micros})
	}
	entries = append(entries, Entry{Kind: EntryCharge, Micros: chargedMicros})
	return BalanceOf(entries)
}

// Budget is where the account stands once chargedMicros of usage is
// charged: OK without limits.
func (a Account) Budget(chargedMicros int64) (Balance, BudgetState, error) {
	b, err := a.Balance(chargedMicros)
	if err != nil {
		return Balance{}, BudgetState{}, err
	}
	if a.Limits == nil {
		cur := ""
		if a.Plan != nil {
			cur = a.Plan.Currency
		}
		return b, BudgetState{Status: BudgetOK, BalanceMicros: b.Micros,
			Message: fmt.Sprintf("The balance is %s; no spend limit is set.", FormatMicros(b.Micros, cur))}, nil
	}
	return b, Evaluate(b.Micros, *a.Limits), nil
}

// PeriodCharge is what usage q of one billing period costs under the
// plan: its free allowance is taken first, the rest priced.
func (p Plan) PeriodCharge(q Quantity) (int64, error) {
	free, err := p.Allowance()
	if err != nil {
		return 0, err
	}
	q.VCPUMicroseconds = max(0, q.VCPUMicroseconds-free.VCPUMicroseconds)
	q.MiBMilliseconds = max(0, q.MiBMilliseconds-free.MiBMilliseconds)
	return p.Price(q)
}
