package state

import (
	"errors"
	"fmt"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/structs"
)

// ErrNoIndex is returned by Commit when the transaction has no log index.
var ErrNoIndex = errors.New("state: write without a log index")

// WriteTxn is a write transaction: the Raft state machine's only way to
// change the state. Its read methods see its own writes. Nothing is visible
// to readers until Commit; Abort discards everything. Only one WriteTxn is
// open at a time (a second one blocks until the first ends).
//
// Objects passed to the Upsert methods become part of the state: do not
// modify them afterwards.
type WriteTxn struct {
	reader
	index uint64
}

// WriteTxn opens a write transaction for the log entry at index.
func (s *Store) WriteTxn(index uint64) *WriteTxn {
	return &WriteTxn{reader: reader{txn: s.gen.Load().db.Txn(true)}, index: index}
}

// LogIndex returns the log index the transaction writes at.
func (t *WriteTxn) LogIndex() uint64 { return t.index }

// UpsertTeam inserts or replaces a team.
func (t *WriteTxn) UpsertTeam(team *structs.Team) error { return t.insert(tableTeams, team) }

// UpsertAPIKey inserts or replaces an API key.
func (t *WriteTxn) UpsertAPIKey(key *structs.APIKey) error { return t.insert(tableAPIKeys, key) }

// UpsertSandbox inserts or replaces a sandbox.
func (t *WriteTxn) UpsertSandbox(sb *structs.Sandbox) error { return t.insert(tableSandboxes, sb) }

// UpsertNode inserts or replaces a node.
func (t *WriteTxn) UpsertNode(n *structs.Node) error { return t.insert(tableNodes, n) }

// UpsertUsageMark records a node's ingest high-water mark.
func (t *WriteTxn) UpsertUsageMark(m *structs.UsageMark) error { return t.insert(tableMarks, m) }

// UpsertSandboxUsage records a sandbox's usage total.
func (t *WriteTxn) UpsertSandboxUsage(u *structs.SandboxUsage) error { return t.insert(tableUsage, u) }

// UpsertUsageBucket records a team's hourly usage bucket, and moves its
// month's total (structs.UsageMonth) by what the bucket changed.
func (t *WriteTxn) UpsertUsageBucket(b *structs.UsageBucket) error {
	old := t.UsageBucket(b.ID)
	if err := t.insert(tableBuckets, b); err != nil {
		return err
	}
	m := structs.NewUsageMonth(b.TeamID, b.Hour)
	if cur := t.UsageMonth(m.ID); cur != nil {
		c := *cur
		m = &c
	}
	if old != nil {
		m.Plus(old.UsageTotals, -1)
	}
	m.Plus(b.UsageTotals, 1)
	return t.insert(tableMonths, m)
}

// UpsertAccount records a team's billing account.
func (t *WriteTxn) UpsertAccount(a *billing.Account) error { return t.insert(tableAccounts, a) }

// UpsertExportCursor records how far an exporter has got.
func (t *WriteTxn) UpsertExportCursor(c *structs.ExportCursor) error {
	return t.insert(tableCursors, c)
}

// ApplyRegionReport records a region's usage report unless it is stale, as
// of an index at or below the region's mark (a replay, or a report a later
// one overtook): each total in it replaces the one held, and the mark
// moves to the report's index. It reports whether the report was applied.
func (t *WriteTxn) ApplyRegionReport(rep structs.RegionReport, at time.Time) (bool, error) {
	if m := t.RegionMark(rep.Region); m != nil && rep.AsOf <= m.AsOf {
		return false, nil
	}
	for _, u := range rep.Months {
		u.Region, u.Month = rep.Region, structs.MonthOf(u.Month)
		u.ID = structs.RegionUsageID(u.Region, u.TeamID, u.Month)
		if err := t.insert(tableRegional, &u); err != nil {
			return false, err
		}
	}
	return true, t.insert(tableRegMarks, &structs.RegionMark{ID: rep.Region, AsOf: rep.AsOf, UpdatedAt: at})
}

// UpsertServer inserts or replaces a control-plane server.
func (t *WriteTxn) UpsertServer(srv *structs.Server) error { return t.insert(tableServers, srv) }

// DeleteServer removes a control-plane server. Deleting an id that is not
// there does nothing.
func (t *WriteTxn) DeleteServer(id string) error {
	if _, err := t.txn.DeleteAll(tableServers, indexID, id); err != nil {
		return fmt.Errorf("state: delete from %s: %w", tableServers, err)
	}
	return nil
}

func (t *WriteTxn) insert(table string, obj any) error {
	if err := t.txn.Insert(table, obj); err != nil {
		return fmt.Errorf("state: insert into %s: %w", table, err)
	}
	return nil
}

// Commit records the transaction's log index as the latest and makes the
// writes visible.
func (t *WriteTxn) Commit() error {
	if t.index == 0 {
		t.txn.Abort()
		return ErrNoIndex
	}
	if err := t.insert(tableIndex, &indexRow{Key: indexRowKey, Value: t.index}); err != nil {
		t.txn.Abort()
		return err
	}
	t.txn.Commit()
	return nil
}

// Abort discards the transaction. It is safe after Commit (a no-op).
func (t *WriteTxn) Abort() { t.txn.Abort() }
