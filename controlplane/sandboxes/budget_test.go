package sandboxes

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/internal/testwait"
)

// fakeBudgets gives every team the status set last.
type fakeBudgets struct {
	mu     sync.Mutex
	status billing.BudgetStatus
}

func (b *fakeBudgets) set(s billing.BudgetStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = s
}

func (b *fakeBudgets) Budget(string) (billing.BudgetState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return billing.BudgetState{Status: b.status, Message: "the balance is " + string(b.status)}, nil
}

func TestExhaustedBudgetRefusesCreatesAndStopsSandboxes(t *testing.T) {
	f := newFixture(t)
	budgets := &fakeBudgets{status: billing.BudgetSoftLimit}
	f.svc.cfg.Budgets = budgets
	ctx := context.Background()

	// At the warning level creates go on.
	sb, err := f.svc.Create(ctx, "t1", CreateInput{})
	if err != nil {
		t.Fatalf("create at the soft limit: %v", err)
	}
	other, err := f.svc.Create(ctx, "t1", CreateInput{})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.enforceBudgets(ctx)
	if got, _ := f.svc.Get(ctx, "t1", sb.ID); got.State != structs.SandboxRunning {
		t.Fatalf("a sandbox at the soft limit was stopped: %s", got.State)
	}

	budgets.set(billing.BudgetExhausted)
	_, err = f.svc.Create(ctx, "t1", CreateInput{})
	if apperr.CodeOf(err) != apperr.ResourceExhausted {
		t.Fatalf("create with an exhausted budget: %v, want RESOURCE_EXHAUSTED", err)
	}
	f.svc.enforceBudgets(ctx)
	for _, id := range []string{sb.ID, other.ID} {
		testwait.For(t, 5*time.Second, "sandbox "+id+" stopped for its budget", func() bool {
			got, err := f.svc.Get(ctx, "t1", id)
			return err == nil && got.State == structs.SandboxStopped && got.StopReason == structs.StopReasonBudget
		})
		if f.agent.isRunning(id) {
			t.Fatalf("sandbox %s still runs on its node", id)
		}
	}
}
