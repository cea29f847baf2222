package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/usage"
	"github.com/codeint/codeint/graph/model"
)

// changeAccount runs an admin's change of a team's account.
func (r *mutationResolver) changeAccount(ctx context.Context, op, teamID string, change billing.AccountChange) (*model.Account, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if r.Accounts == nil {
		return nil, errNotConfigured("billing accounts")
	}
	a, err := r.Accounts.ChangeAccount(ctx, p, teamID, change)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return toAccount(a), nil
}

// visibleTeam is the team an account query is about: the caller's, or any
// team an admin names. Another team's, for a non-admin, is NOT_FOUND.
func visibleTeam(p auth.Principal, teamID *string) (string, error) {
	if teamID == nil || *teamID == p.TeamID {
		return p.TeamID, nil
	}
	if !p.Admin {
		return "", apperr.New(apperr.NotFound, "team %q not found", *teamID)
	}
	return *teamID, nil
}

// planFromInput is the plan an admin set; the optional fields default to
// zero (no allowance, no minimum) and the name to the id.
func planFromInput(in model.PlanInput) billing.Plan {
	p := billing.Plan{ID: in.ID, Name: in.ID, Currency: in.Currency, VCPUSecondNanos: in.VcpuSecondNanos, GiBSecondNanos: in.GibSecondNanos}
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.OnMaxOfUsed != nil {
		p.OnMaxOfUsed = *in.OnMaxOfUsed
	}
	if in.FreeVcpuSeconds != nil {
		p.FreeVCPUSeconds = *in.FreeVcpuSeconds
	}
	if in.FreeGibSeconds != nil {
		p.FreeGiBSeconds = *in.FreeGibSeconds
	}
	if in.MinimumSecondsPerSandbox != nil {
		p.MinimumSecondsPerSandbox = *in.MinimumSecondsPerSandbox
	}
	return p
}

// creditFromInput is the credit an admin adds; its id is the idempotency
// key, or a new one.
func creditFromInput(kind model.CreditKind, micros int64, note, key *string) (billing.Credit, error) {
	c := billing.Credit{Kind: billing.EntryKind(kind), Micros: micros}
	if note != nil {
		c.Note = *note
	}
	if key != nil {
		c.ID = *key
		return c, nil
	}
	id, err := auth.NewCreditID()
	c.ID = id
	return c, err
}

func toAccount(a usage.Account) *model.Account {
	m := &model.Account{
		TeamID: a.TeamID,
		Plan: &model.Plan{ID: a.Plan.ID, Name: a.Plan.Name, Currency: a.Plan.Currency,
			VcpuSecondNanos: a.Plan.VCPUSecondNanos, GibSecondNanos: a.Plan.GiBSecondNanos, OnMaxOfUsed: a.Plan.OnMaxOfUsed,
			FreeVcpuSeconds: a.Plan.FreeVCPUSeconds, FreeGibSeconds: a.Plan.FreeGiBSeconds,
			MinimumSecondsPerSandbox: a.Plan.MinimumSecondsPerSandbox},
		BalanceMicros: a.Balance.Micros, GrantedMicros: a.Balance.GrantedMicros,
		ToppedUpMicros: a.Balance.ToppedUpMicros, ChargedMicros: a.Balance.ChargedMicros,
		Budget: model.BudgetStatus(a.Budget.Status), Message: a.Budget.Message,
		Credits: make([]*model.Credit, 0, len(a.Credits)),
	}
	if a.Limits != nil {
		m.Limits = &model.SpendLimits{SoftMicros: a.Limits.SoftMicros, HardMicros: a.Limits.HardMicros}
	}
	if a.StripeCustomerID != "" {
		m.StripeCustomerID = &a.StripeCustomerID
	}
	for _, c := range a.Credits {
		m.Credits = append(m.Credits, &model.Credit{ID: c.ID, Kind: model.CreditKind(c.Kind), Micros: c.Micros, Note: c.Note, At: c.At})
	}
	return m
}

// tickEvery is the usage subscription's period: 1 to 60 s, 5 s by default.
func tickEvery(seconds *int) (time.Duration, error) {
	if seconds == nil {
		return 5 * time.Second, nil
	}
	if *seconds < 1 || *seconds > 60 {
		return 0, apperr.New(apperr.InvalidArgument, "everySeconds must be 1 to 60, got %d", *seconds)
	}
	return time.Duration(*seconds) * time.Second, nil
}

// usageTicks sends first and then a tick every period until ctx ends; a
// tick that cannot be computed is logged and skipped.
func (r *subscriptionResolver) usageTicks(ctx context.Context, team string, every time.Duration, first usage.Live) <-chan *model.UsageTick {
	out := make(chan *model.UsageTick, 1)
	out <- toUsageTick(first)
	go func() {
		defer close(out)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			l, err := r.Accounts.Live(ctx, team)
			if err != nil {
				r.Logger.Error("usage tick", "team_id", team, "error", err)
				continue
			}
			select {
			case out <- toUsageTick(l):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func toUsageTick(l usage.Live) *model.UsageTick {
	return &model.UsageTick{At: l.At, ChargedMicros: l.Balance.ChargedMicros, UnmeteredMicros: l.UnmeteredMicros,
		BalanceMicros: l.LiveBalanceMicros, BurnMicrosPerSecond: l.BurnMicrosPerSecond,
		RunningSandboxes: l.RunningSandboxes, Budget: model.BudgetStatus(l.Budget.Status)}
}
