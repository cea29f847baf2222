package sandboxes

import (
	"context"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
)

// Budgets says where a team stands against its spend limits
// (usage.Service answers it from the ledger and the team's account).
type Budgets interface {
	Budget(teamID string) (billing.BudgetState, error)
}

// checkBudget refuses a create of a team whose budget is exhausted.
func (s *Service) checkBudget(teamID string) error {
	if s.cfg.Budgets == nil {
		return nil
	}
	st, err := s.cfg.Budgets.Budget(teamID)
	if err != nil {
		return err
	}
	if !st.CreatesAllowed() {
		return apperr.New(apperr.ResourceExhausted, "team %s cannot create sandboxes: %s", teamID, st.Message)
	}
	return nil
}

// enforceBudgets stops the running sandboxes of teams whose budget is
// exhausted (stopReason BUDGET_EXHAUSTED), and logs each team's change of
// status. Like expiry it runs where EnforceExpiry holds (the leader), so
// one verdict is one stop.
func (s *Service) enforceBudgets(ctx context.Context) {
	if s.cfg.Budgets == nil || (s.cfg.EnforceExpiry != nil && !s.cfg.EnforceExpiry()) {
		return
	}
	running := map[string][]string{} // team → its sandboxes not stopping
	for _, sb := range s.cfg.Store.State().Snapshot().SandboxesNonTerminal() {
		if sb.State != structs.SandboxStopping {
			running[sb.TeamID] = append(running[sb.TeamID], sb.ID)
		}
	}
	for team, ids := range running {
		st, err := s.cfg.Budgets.Budget(team)
		if err != nil {
			s.log.Error("budget of a team", "event", "budget_failed", "team_id", team, "error", err)
			continue
		}
		s.noteBudget(team, st)
		if !st.StopRunning() {
			continue
		}
		for _, id := range ids {
			go func() {
				if _, err := s.stop(ctx, id, structs.StopReasonBudget); err != nil {
					s.log.Error("stop sandbox of an exhausted budget", "event", "sandbox_budget_stop_failed", "sandbox_id", id, "team_id", team, "error", err)
				}
			}()
		}
	}
}

// noteBudget logs a team's budget status when it differs from the one seen
// before: a warning at the soft limit, an error when exhausted.
func (s *Service) noteBudget(team string, st billing.BudgetState) {
	s.mu.Lock()
	was, seen := s.budgets[team]
	s.budgets[team] = st.Status
	s.mu.Unlock()
	if seen && was == st.Status || !seen && st.Status == billing.BudgetOK {
		return
	}
	args := []any{"event", "budget_status", "team_id", team, "status", string(st.Status), "balance_micros", st.BalanceMicros, "message", st.Message}
	switch st.Status {
	case billing.BudgetExhausted:
		s.log.Error("budget exhausted: stopping the team's sandboxes", args...)
	case billing.BudgetSoftLimit:
		s.log.Warn("budget at the warning level", args...)
	default:
		s.log.Info("budget back to OK", args...)
	}
}
