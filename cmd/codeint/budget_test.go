package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestSpendLimits runs a team with a steep plan and a dollar of credit: a
// running sandbox eats the credit in about 10 s of metered usage, is
// stopped with BUDGET_EXHAUSTED within 30 s of that, and the team's next
// create is refused until it tops up. Bad account changes are refused
// with their codes.
func TestSpendLimits(t *testing.T) {
	d := startDev(t, newDataDir(t))
	admin := d.client()
	ctx := ctxT(t, 3*time.Minute)
	team, err := admin.CreateTeam(ctx, "budgeted")
	if err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAPIKey(ctx, team.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	tc := codeint.New(d.url, key.Secret)

	// Bad input.
	if _, err := admin.SetTeamPlan(ctx, team.ID, codeint.Plan{ID: "neg", Currency: "USD", VCPUSecondNanos: -1}); codeint.CodeOf(err) != "INVALID_ARGUMENT" {
		t.Fatalf("negative price: %v", err)
	}
	if _, err := admin.SetSpendLimits(ctx, "team_nope", 0, 0); codeint.CodeOf(err) != "INVALID_ARGUMENT" {
		t.Fatalf("unknown team: %v", err)
	}
	if _, err := admin.SetSpendLimits(ctx, team.ID, -5, 0); codeint.CodeOf(err) != "INVALID_ARGUMENT" {
		t.Fatalf("soft limit under the hard one: %v", err)
	}
	if _, err := tc.SetSpendLimits(ctx, team.ID, 0, 0); codeint.CodeOf(err) != "PERMISSION_DENIED" {
		t.Fatalf("a team's own key changing its limits: %v", err)
	}

	if _, err := admin.SetStripeCustomer(ctx, team.ID, "acct_123"); codeint.CodeOf(err) != "INVALID_ARGUMENT" {
		t.Fatalf("a Stripe account id as a customer: %v", err)
	}
	if a, err := admin.SetStripeCustomer(ctx, team.ID, "cus_Budgeted1"); err != nil || a.StripeCustomerID != "cus_Budgeted1" {
		t.Fatalf("set the Stripe customer: %+v, %v", a, err)
	}

	// $0.10 per vCPU-second; a dollar of credit, granted twice by a retry.
	if _, err := admin.SetTeamPlan(ctx, team.ID, codeint.Plan{ID: "steep", Currency: "USD", VCPUSecondNanos: 100_000_000}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := admin.AddCredit(ctx, team.ID, "GRANT", 1_000_000, "welcome", "welcome-"+team.ID); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := admin.SetSpendLimits(ctx, team.ID, 500_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if acct.GrantedMicros != 1_000_000 || len(acct.Credits) != 1 || acct.Budget != "OK" || acct.Plan.ID != "steep" {
		t.Fatalf("account after the set-up: %+v", acct)
	}

	sb, err := tc.CreateSandbox(ctx, codeint.CreateSandboxInput{VCPUs: 1, MemoryMB: 512})
	if err != nil {
		t.Fatal(err)
	}
	// The team follows its cost live: the running sandbox burns $0.10 a
	// second and its unmetered time grows tick by tick.
	if err := tc.UsageTicks(ctx, 61, func(codeint.UsageTick) error { return nil }); codeint.CodeOf(err) != "INVALID_ARGUMENT" {
		t.Fatalf("usage ticks every 61 s: %v", err)
	}
	var ticks []codeint.UsageTick
	err = tc.UsageTicks(ctx, 1, func(u codeint.UsageTick) error {
		ticks = append(ticks, u)
		if len(ticks) == 3 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("usage subscription: %v", err)
	}
	for i, u := range ticks {
		// 1 vCPU at 100,000 micros/s; the plan does not price memory.
		if u.RunningSandboxes != 1 || u.BurnMicrosPerSecond != 100_000 || (i > 0 && u.UnmeteredMicros <= ticks[i-1].UnmeteredMicros && u.ChargedMicros == ticks[i-1].ChargedMicros) {
			t.Fatalf("usage ticks %+v", ticks)
		}
	}

	var stopped *codeint.Sandbox
	eventually(t, 90*time.Second, "the sandbox stopped for its budget", func() error {
		got, err := tc.Sandbox(ctx, sb.ID)
		if err != nil {
			return err
		}
		if got.State != "STOPPED" {
			return fmt.Errorf("state %s", got.State)
		}
		stopped = got
		return nil
	})
	if stopped.StopReason != "BUDGET_EXHAUSTED" {
		t.Fatalf("stopped with %q, want BUDGET_EXHAUSTED", stopped.StopReason)
	}
	// The credit lasts 10 s of running; it must stop within 30 s of that.
	ran := stopped.StoppedAt.Sub(*stopped.StartedAt)
	if ran > 40*time.Second {
		t.Fatalf("the sandbox ran %v: more than 30 s past the 10 s its credit paid for", ran)
	}
	t.Logf("a sandbox with 10 s of credit ran %v", ran)

	acct, err = tc.Account(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Budget != "EXHAUSTED" || acct.BalanceMicros > 0 || acct.ChargedMicros < 1_000_000 {
		t.Fatalf("account after the credit ran out: %+v", acct)
	}
	if _, err := tc.CreateSandbox(ctx, codeint.CreateSandboxInput{}); codeint.CodeOf(err) != "RESOURCE_EXHAUSTED" {
		t.Fatalf("create with an exhausted budget: %v, want RESOURCE_EXHAUSTED", err)
	}

	// A top-up lets the team create again.
	if acct, err = admin.AddCredit(ctx, team.ID, "TOP_UP", 100_000_000, "", ""); err != nil || acct.Budget != "OK" {
		t.Fatalf("top up: %+v, %v", acct, err)
	}
	again, err := tc.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatalf("create after a top-up: %v", err)
	}
	if _, err := tc.TerminateSandbox(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
}

// errEnough ends a subscription a test has read enough of.
var errEnough = errors.New("enough")
