package codeint

import (
	"context"
	"time"
)

// Account is a team's billing account: its plan, its balance once its
// metered usage is charged, its spend limits and where it stands.
type Account struct {
	TeamID         string       `json:"teamId"`
	Plan           Plan         `json:"plan"`
	BalanceMicros  int64        `json:"balanceMicros"`
	GrantedMicros  int64        `json:"grantedMicros"`
	ToppedUpMicros int64        `json:"toppedUpMicros"`
	ChargedMicros  int64        `json:"chargedMicros"`
	Limits         *SpendLimits `json:"limits"`
	// Budget is OK, SOFT_LIMIT or EXHAUSTED.
	Budget  string   `json:"budget"`
	Message string   `json:"message"`
	Credits []Credit `json:"credits"`
	// StripeCustomerID is empty when the team is not billed through Stripe.
	StripeCustomerID string `json:"stripeCustomerId"`
}

// Plan is a price plan; prices are in nanos (10^-9 of a currency unit)
// per unit-second.
type Plan struct {
	ID                       string `json:"id"`
	Name                     string `json:"name,omitempty"`
	Currency                 string `json:"currency"`
	VCPUSecondNanos          int64  `json:"vcpuSecondNanos"`
	GiBSecondNanos           int64  `json:"gibSecondNanos"`
	OnMaxOfUsed              bool   `json:"onMaxOfUsed"`
	FreeVCPUSeconds          int64  `json:"freeVcpuSeconds"`
	FreeGiBSeconds           int64  `json:"freeGibSeconds"`
	MinimumSecondsPerSandbox int    `json:"minimumSecondsPerSandbox"`
}

// SpendLimits are floors under a balance, in micros.
type SpendLimits struct {
	SoftMicros int64 `json:"softMicros"`
	HardMicros int64 `json:"hardMicros"`
}

// Credit is a grant or a top-up.
type Credit struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"` // GRANT or TOP_UP
	Micros int64     `json:"micros"`
	Note   string    `json:"note"`
	At     time.Time `json:"at"`
}

const accountFields = `teamId plan { id name currency vcpuSecondNanos gibSecondNanos onMaxOfUsed freeVcpuSeconds freeGibSeconds minimumSecondsPerSandbox }
balanceMicros grantedMicros toppedUpMicros chargedMicros limits { softMicros hardMicros } budget message
credits { id kind micros note at } stripeCustomerId`

// Account returns a team's billing account; an empty teamID means the
// caller's team (another team's needs an admin key).
func (c *Client) Account(ctx context.Context, teamID string) (*Account, error) {
	var data struct {
		Account Account `json:"account"`
	}
	vars := map[string]any{}
	if teamID != "" {
		vars["teamId"] = teamID
	}
	if err := c.Do(ctx, `query ($teamId: ID) { account(teamId: $teamId) { `+accountFields+` } }`, vars, &data); err != nil {
		return nil, err
	}
	return &data.Account, nil
}

// accountMutation runs a mutation that returns an Account under field.
func (c *Client) accountMutation(ctx context.Context, field, query string, vars map[string]any) (*Account, error) {
	var data map[string]Account
	if err := c.Do(ctx, query, vars, &data); err != nil {
		return nil, err
	}
	a := data[field]
	return &a, nil
}

// SetTeamPlan sets a team's price plan (admin keys only).
func (c *Client) SetTeamPlan(ctx context.Context, teamID string, p Plan) (*Account, error) {
	plan := map[string]any{"id": p.ID, "currency": p.Currency, "vcpuSecondNanos": p.VCPUSecondNanos,
		"gibSecondNanos": p.GiBSecondNanos, "onMaxOfUsed": p.OnMaxOfUsed, "freeVcpuSeconds": p.FreeVCPUSeconds,
		"freeGibSeconds": p.FreeGiBSeconds, "minimumSecondsPerSandbox": p.MinimumSecondsPerSandbox}
	if p.Name != "" {
		plan["name"] = p.Name
	}
	return c.accountMutation(ctx, "setTeamPlan", `mutation ($teamId: ID!, $plan: PlanInput!) { setTeamPlan(teamId: $teamId, plan: $plan) { `+accountFields+` } }`,
		map[string]any{"teamId": teamID, "plan": plan})
}

// SetSpendLimits sets a team's spend limits in micros (admin keys only).
func (c *Client) SetSpendLimits(ctx context.Context, teamID string, softMicros, hardMicros int64) (*Account, error) {
	return c.accountMutation(ctx, "setSpendLimits", `mutation ($teamId: ID!, $soft: Int64!, $hard: Int64!) { setSpendLimits(teamId: $teamId, softMicros: $soft, hardMicros: $hard) { `+accountFields+` } }`,
		map[string]any{"teamId": teamID, "soft": softMicros, "hard": hardMicros})
}

// ClearSpendLimits removes a team's spend limits (admin keys only).
func (c *Client) ClearSpendLimits(ctx context.Context, teamID string) (*Account, error) {
	return c.accountMutation(ctx, "clearSpendLimits", `mutation ($teamId: ID!) { clearSpendLimits(teamId: $teamId) { `+accountFields+` } }`,
		map[string]any{"teamId": teamID})
}

// AddCredit adds a GRANT or a TOP_UP to a team's balance (admin keys
// only); a retry with the same idempotencyKey adds it once. An empty key
// makes a new credit each call.
func (c *Client) AddCredit(ctx context.Context, teamID, kind string, micros int64, note, idempotencyKey string) (*Account, error) {
	vars := map[string]any{"teamId": teamID, "kind": kind, "micros": micros, "note": note}
	if idempotencyKey != "" {
		vars["key"] = idempotencyKey
	}
	return c.accountMutation(ctx, "addCredit", `mutation ($teamId: ID!, $kind: CreditKind!, $micros: Int64!, $note: String, $key: String) { addCredit(teamId: $teamId, kind: $kind, micros: $micros, note: $note, idempotencyKey: $key) { `+accountFields+` } }`, vars)
}

// UsageTick is the calling team's cost at an instant.
type UsageTick struct {
	At                  time.Time `json:"at"`
	ChargedMicros       int64     `json:"chargedMicros"`
	UnmeteredMicros     int64     `json:"unmeteredMicros"`
	BalanceMicros       int64     `json:"balanceMicros"`
	BurnMicrosPerSecond int64     `json:"burnMicrosPerSecond"`
	RunningSandboxes    int       `json:"runningSandboxes"`
	Budget              string    `json:"budget"`
}

// UsageTicks follows the calling team's cost, a tick every everySeconds
// (0: the server's default of 5), calling fn for each until fn returns an
// error or ctx ends.
func (c *Client) UsageTicks(ctx context.Context, everySeconds int, fn func(UsageTick) error) error {
	vars := map[string]any{}
	if everySeconds > 0 {
		vars["every"] = everySeconds
	}
	q := `subscription ($every: Int) { usage(everySeconds: $every) { at chargedMicros unmeteredMicros balanceMicros burnMicrosPerSecond runningSandboxes budget } }`
	return each(ctx, c, q, "usage", vars, fn)
}

// SetStripeCustomer sets the team's customer in Stripe, to which the
// leader's meter events exporter reports its usage; "" clears it (admin
// keys only).
func (c *Client) SetStripeCustomer(ctx context.Context, teamID, customerID string) (*Account, error) {
	vars := map[string]any{"teamId": teamID}
	if customerID != "" {
		vars["customer"] = customerID
	}
	return c.accountMutation(ctx, "setStripeCustomer", `mutation ($teamId: ID!, $customer: String) { setStripeCustomer(teamId: $teamId, customerId: $customer) { `+accountFields+` } }`, vars)
}
