package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
)

// ChangeAccount applies a change to a team's billing account: its plan,
// spend limits or credits. Only an admin key may. An unknown team and a
// change that does not validate (a negative price, a soft limit under the
// hard one, a credit of no amount) are INVALID_ARGUMENT; nothing is
// written then. A credit whose id the account holds is not added again,
// so a retried request adds it once.
func (a *Admin) ChangeAccount(ctx context.Context, caller Principal, teamID string, change billing.AccountChange) (*billing.Account, error) {
	if !caller.Admin {
		return nil, apperr.New(apperr.PermissionDenied, "only an admin key can change billing accounts")
	}
	if a.st.Snapshot().TeamByID(teamID) == nil {
		return nil, apperr.New(apperr.InvalidArgument, "team %q does not exist", teamID)
	}
	if change.Credit != nil && change.Credit.At.IsZero() {
		change.Credit.At = a.now()
	}
	if err := change.Validate(); err != nil {
		return nil, apperr.New(apperr.InvalidArgument, "%v", err)
	}
	res, err := a.ap.Apply(ctx, command.AccountUpdate, &command.AccountUpdateRequest{TeamID: teamID, Change: change, At: a.now()})
	if err != nil {
		return nil, fmt.Errorf("change the account of team %s: %w", teamID, err)
	}
	acct, ok := res.(*billing.Account)
	if !ok {
		return nil, errors.New("account update returned no account")
	}
	return acct, nil
}

// NewCreditID makes the id of a credit given without an idempotency key.
func NewCreditID() (string, error) { return newID("cr_") }
