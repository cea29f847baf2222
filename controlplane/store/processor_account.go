package store

import (
	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
)

// accountUpdate applies a change to a team's billing account, or replaces
// it whole. The result is the account after the entry (*billing.Account).
func (f *fsm) accountUpdate(index uint64, r *command.AccountUpdateRequest) any {
	var out billing.Account
	err := f.write(index, func(txn *state.WriteTxn) error {
		if txn.TeamByID(r.TeamID) == nil {
			return apperr.New(apperr.InvalidArgument, "team %q does not exist", r.TeamID)
		}
		if r.Replace != nil {
			if r.Replace.TeamID != r.TeamID {
				return apperr.New(apperr.InvalidArgument, "the account of team %q cannot replace team %q's", r.Replace.TeamID, r.TeamID)
			}
			out = *r.Replace
			return txn.UpsertAccount(&out)
		}
		cur := billing.Account{TeamID: r.TeamID}
		if a := txn.AccountByTeam(r.TeamID); a != nil {
			cur = *a
		}
		// An unchanged account (a credit retried) is written as it was,
		// so that the entry's index is applied like any other's.
		next, _, err := cur.With(r.Change, r.At)
		if err != nil {
			return apperr.New(apperr.InvalidArgument, "%v", err)
		}
		out = next
		return txn.UpsertAccount(&out)
	})
	return result(&out, err)
}
