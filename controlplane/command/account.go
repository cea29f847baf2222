package command

import (
	"time"

	"github.com/codeint/codeint/billing"
)

// AccountUpdateRequest changes a team's billing account (its plan, spend
// limits or credits) or, when Replace is set, replaces it whole (a region
// copying the authoritative region's accounts). The team must exist. The
// result is the account as it is after the entry.
type AccountUpdateRequest struct {
	TeamID  string                `json:"teamId"`
	Change  billing.AccountChange `json:"change"`
	Replace *billing.Account      `json:"replace,omitempty"`
	At      time.Time             `json:"at"`
}
