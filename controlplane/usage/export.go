package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/export"
	"github.com/codeint/codeint/controlplane/state"
)

// ClosedHours is the ledger as an export.Source: every team's hourly
// buckets of the closed hours after `after`, priced under each team's
// plan, with the number of sandboxes metered in each.
func (s *Service) ClosedHours(after, upTo time.Time) ([]export.Bucket, error) {
	snap := s.state.Snapshot()
	var out []export.Bucket
	for _, b := range snap.UsageBucketsClosed(after, upTo) {
		cost, err := price(s.planOf(snap, b.TeamID), b.UsageTotals)
		if err != nil {
			return nil, fmt.Errorf("export: bucket %s: %w", b.ID, err)
		}
		out = append(out, export.Bucket{TeamID: b.TeamID, Hour: b.Hour.UTC(), SandboxSeconds: b.SandboxSeconds,
			VCPUSeconds: b.VCPUSeconds, GiBSeconds: b.GiBSeconds, CPUSeconds: b.CPUSeconds, CostMicros: cost,
			Sandboxes: sandboxesIn(snap, b.TeamID, b.Hour)})
	}
	return out, nil
}

// sandboxesIn counts a team's sandboxes metered in the hour from h.
func sandboxesIn(snap *state.Snapshot, teamID string, h time.Time) int {
	n := 0
	for _, su := range snap.SandboxUsages(teamID) {
		if su.First.Before(h.Add(time.Hour)) && su.Last.After(h) {
			n++
		}
	}
	return n
}

// Applier commits a command through Raft (the store, or a forwarder to
// the leader).
type Applier interface {
	Apply(ctx context.Context, t command.Type, req any) (any, error)
}

// ExportCursor is an exporter's cursor kept in Raft (an export.Cursor):
// read from the replicated state on every Load, so a new leader's
// exporter starts where the old one stopped.
type ExportCursor struct {
	Name  string // the exporter's: "s3", "stripe"
	State *state.Store
	Store Applier
	Now   func() time.Time // time.Now when nil
}

// Load returns the start of the last hour exported in full.
func (c ExportCursor) Load() (time.Time, error) {
	if cur := c.State.Snapshot().ExportCursor(c.Name); cur != nil {
		return cur.Hour, nil
	}
	return time.Time{}, nil
}

// Save moves the cursor to hour.
func (c ExportCursor) Save(ctx context.Context, hour time.Time) error {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	// The state machine never moves a cursor back, so a save that lost a
	// race with a newer leader's leaves the newer hour.
	if _, err := c.Store.Apply(ctx, command.ExportCursor, command.ExportCursorRequest{Exporter: c.Name, Hour: hour, At: now()}); err != nil {
		return fmt.Errorf("save the %s export cursor: %w", c.Name, err)
	}
	return nil
}

// StripeCustomer is a team's customer in Stripe, "" when it has none (the
// meter events exporter's Customer).
func (s *Service) StripeCustomer(_ context.Context, teamID string) (string, error) {
	return accountOf(s.state.Snapshot(), teamID).StripeCustomerID, nil
}
