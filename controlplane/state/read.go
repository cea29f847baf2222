package state

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/structs"
)

// reader holds the typed queries shared by Snapshot and WriteTxn. A query
// on the fixed schema cannot fail; an error means a bug, so it panics.
type reader struct {
	txn *memdb.Txn
}

func first[T any](r reader, table, index string, arg string) *T {
	obj, err := r.txn.First(table, index, arg)
	if err != nil {
		panic(fmt.Sprintf("state: %s.%s: %v", table, index, err))
	}
	if obj == nil {
		return nil
	}
	return obj.(*T)
}

func all[T any](r reader, table, index string, args ...any) []*T {
	it, err := r.txn.Get(table, index, args...)
	if err != nil {
		panic(fmt.Sprintf("state: %s.%s: %v", table, index, err))
	}
	var out []*T
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*T))
	}
	return out
}

// Index returns the log index of the latest write (0 for an empty state).
func (r reader) Index() uint64 {
	row := first[indexRow](r, tableIndex, indexID, indexRowKey)
	if row == nil {
		return 0
	}
	return row.Value
}

// TeamByID returns the team, or nil.
func (r reader) TeamByID(id string) *structs.Team {
	return first[structs.Team](r, tableTeams, indexID, id)
}

// Teams returns every team, by id.
func (r reader) Teams() []*structs.Team {
	return all[structs.Team](r, tableTeams, indexID)
}

// AccountByTeam returns a team's billing account, or nil when the team has
// none (the default plan, no limits, no credits).
func (r reader) AccountByTeam(teamID string) *billing.Account {
	return first[billing.Account](r, tableAccounts, indexID, teamID)
}

// Accounts returns every billing account, by team id.
func (r reader) Accounts() []*billing.Account {
	return all[billing.Account](r, tableAccounts, indexID)
}

// ExportCursor returns an exporter's cursor, or nil before its first hour.
func (r reader) ExportCursor(exporter string) *structs.ExportCursor {
	return first[structs.ExportCursor](r, tableCursors, indexID, exporter)
}

// UsageBucketsClosed returns every team's hourly buckets whose hour starts
// after `after` and has ended by upTo, by team and hour.
func (r reader) UsageBucketsClosed(after, upTo time.Time) []*structs.UsageBucket {
	var out []*structs.UsageBucket
	for _, b := range all[structs.UsageBucket](r, tableBuckets, indexID) {
		if b.Hour.After(after) && !b.Hour.Add(time.Hour).After(upTo) {
			out = append(out, b)
		}
	}
	return out
}

// APIKeyByID returns the key, or nil.
func (r reader) APIKeyByID(id string) *structs.APIKey {
	return first[structs.APIKey](r, tableAPIKeys, indexID, id)
}

// APIKeyByHash returns the key whose secret hashes to hash, or nil.
func (r reader) APIKeyByHash(hash string) *structs.APIKey {
	return first[structs.APIKey](r, tableAPIKeys, indexHash, hash)
}

// APIKeysByTeam returns the team's keys, by id.
func (r reader) APIKeysByTeam(teamID string) []*structs.APIKey {
	return all[structs.APIKey](r, tableAPIKeys, indexTeam, teamID)
}

// SandboxByID returns the sandbox, or nil.
func (r reader) SandboxByID(id string) *structs.Sandbox {
	return first[structs.Sandbox](r, tableSandboxes, indexID, id)
}

// SandboxesByTeam returns the team's sandboxes, newest first (CreateIndex
// descending).
func (r reader) SandboxesByTeam(teamID string) []*structs.Sandbox {
	out := all[structs.Sandbox](r, tableSandboxes, indexTeam, teamID)
	slices.SortFunc(out, func(a, b *structs.Sandbox) int {
		return -compareCreate(a, b)
	})
	return out
}

// SandboxesByNode returns the sandboxes placed on the node, oldest first
// (CreateIndex ascending).
func (r reader) SandboxesByNode(nodeID string) []*structs.Sandbox {
	out := all[structs.Sandbox](r, tableSandboxes, indexNode, nodeID)
	slices.SortFunc(out, compareCreate)
	return out
}

// SandboxesByState returns the sandboxes in the state, oldest first
// (CreateIndex ascending).
func (r reader) SandboxesByState(st structs.SandboxState) []*structs.Sandbox {
	out := all[structs.Sandbox](r, tableSandboxes, indexState, string(st))
	slices.SortFunc(out, compareCreate)
	return out
}

// SandboxesNonTerminal returns every sandbox not yet terminal (STOPPED,
// FAILED, LOST), oldest first (CreateIndex ascending).
func (r reader) SandboxesNonTerminal() []*structs.Sandbox {
	var out []*structs.Sandbox
	for _, st := range []structs.SandboxState{
		structs.SandboxCreating, structs.SandboxRunning, structs.SandboxExecuting, structs.SandboxStopping,
	} {
		out = append(out, all[structs.Sandbox](r, tableSandboxes, indexState, string(st))...)
	}
	slices.SortFunc(out, compareCreate)
	return out
}

// Sandboxes returns every sandbox, by id.
func (r reader) Sandboxes() []*structs.Sandbox {
	return all[structs.Sandbox](r, tableSandboxes, indexID)
}

// NodeByID returns the node, or nil.
func (r reader) NodeByID(id string) *structs.Node {
	return first[structs.Node](r, tableNodes, indexID, id)
}

// Nodes returns every node, by id.
func (r reader) Nodes() []*structs.Node {
	return all[structs.Node](r, tableNodes, indexID)
}

// ServerByID returns the control-plane server, or nil.
func (r reader) ServerByID(id string) *structs.Server {
	return first[structs.Server](r, tableServers, indexID, id)
}

// Servers returns every control-plane server, by id.
func (r reader) Servers() []*structs.Server {
	return all[structs.Server](r, tableServers, indexID)
}

// compareCreate orders sandboxes by CreateIndex, then id.
func compareCreate(a, b *structs.Sandbox) int {
	switch {
	case a.CreateIndex < b.CreateIndex:
		return -1
	case a.CreateIndex > b.CreateIndex:
		return 1
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// UsageMark returns a node's ingest high-water mark, nil before its first
// record.
func (r reader) UsageMark(nodeID string) *structs.UsageMark {
	return first[structs.UsageMark](r, tableMarks, indexID, nodeID)
}

// SandboxUsage returns a sandbox's usage total, nil before its first
// record.
func (r reader) SandboxUsage(id string) *structs.SandboxUsage {
	return first[structs.SandboxUsage](r, tableUsage, indexID, id)
}

// UsageBucket returns one bucket by id (structs.BucketID).
func (r reader) UsageBucket(id string) *structs.UsageBucket {
	return first[structs.UsageBucket](r, tableBuckets, indexID, id)
}

// UsageBuckets returns a team's hourly buckets with from ≤ hour < to, by
// hour.
func (r reader) UsageBuckets(teamID string, from, to time.Time) []*structs.UsageBucket {
	var out []*structs.UsageBucket
	for _, b := range all[structs.UsageBucket](r, tableBuckets, indexTeam, teamID) {
		if !b.Hour.Before(from) && b.Hour.Before(to) {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *structs.UsageBucket) int { return a.Hour.Compare(b.Hour) })
	return out
}

// UsageMonth returns one month's total by id (structs.MonthID).
func (r reader) UsageMonth(id string) *structs.UsageMonth {
	return first[structs.UsageMonth](r, tableMonths, indexID, id)
}

// UsageMonths returns a team's monthly totals, by month.
func (r reader) UsageMonths(teamID string) []*structs.UsageMonth {
	out := all[structs.UsageMonth](r, tableMonths, indexTeam, teamID)
	slices.SortFunc(out, func(a, b *structs.UsageMonth) int { return a.Month.Compare(b.Month) })
	return out
}

// SandboxUsages returns a team's sandbox usage totals, by sandbox id.
func (r reader) SandboxUsages(teamID string) []*structs.SandboxUsage {
	return all[structs.SandboxUsage](r, tableUsage, indexTeam, teamID)
}

// AllUsageMonths returns every team's monthly totals, by id (team, then
// month).
func (r reader) AllUsageMonths() []*structs.UsageMonth {
	return all[structs.UsageMonth](r, tableMonths, indexID)
}

// RegionUsages returns the monthly totals other regions reported for a
// team, by id (region, then month).
func (r reader) RegionUsages(teamID string) []*structs.RegionUsage {
	out := all[structs.RegionUsage](r, tableRegional, indexTeam, teamID)
	slices.SortFunc(out, func(a, b *structs.RegionUsage) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AllRegionUsages returns every reported monthly total, by id.
func (r reader) AllRegionUsages() []*structs.RegionUsage {
	return all[structs.RegionUsage](r, tableRegional, indexID)
}

// RegionMark returns how far a region's reports have got, nil before its
// first.
func (r reader) RegionMark(region string) *structs.RegionMark {
	return first[structs.RegionMark](r, tableRegMarks, indexID, region)
}

// RegionMarks returns every region's mark, by region.
func (r reader) RegionMarks() []*structs.RegionMark {
	return all[structs.RegionMark](r, tableRegMarks, indexID)
}
