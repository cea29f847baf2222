package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/structs"
)

// dumpFormat names the dump format in its header line.
const (
	dumpFormat  = "codeint-state"
	dumpVersion = 1
)

// ErrBadDump is returned by Restore for input that is not a state dump.
var ErrBadDump = errors.New("state: not a state dump")

// dumpHeader is the first line of a dump.
type dumpHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
}

// dumpRecord is every other line: exactly one field is set.
type dumpRecord struct {
	Team    *structs.Team    `json:"team,omitempty"`
	APIKey  *structs.APIKey  `json:"apiKey,omitempty"`
	Sandbox *structs.Sandbox `json:"sandbox,omitempty"`
	Node    *structs.Node    `json:"node,omitempty"`
	Server  *structs.Server  `json:"server,omitempty"`
	// The usage ledger.
	UsageMark    *structs.UsageMark    `json:"usageMark,omitempty"`
	SandboxUsage *structs.SandboxUsage `json:"sandboxUsage,omitempty"`
	UsageBucket  *structs.UsageBucket  `json:"usageBucket,omitempty"`
	// Billing accounts.
	Account *billing.Account `json:"account,omitempty"`
	// Exporters' cursors.
	ExportCursor *structs.ExportCursor `json:"exportCursor,omitempty"`
	// Other regions' usage reports.
	RegionUsage *structs.RegionUsage `json:"regionUsage,omitempty"`
	RegionMark  *structs.RegionMark  `json:"regionMark,omitempty"`
}

// Dump writes the snapshot as JSON lines: a header with the format and the
// index, then one line per object, table by table, each table by id. The
// same state always gives the same bytes.
func (s *Snapshot) Dump(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(dumpHeader{Format: dumpFormat, Version: dumpVersion, Index: s.Index()}); err != nil {
		return fmt.Errorf("state: dump: %w", err)
	}
	for _, table := range []string{tableTeams, tableAPIKeys, tableSandboxes, tableNodes, tableServers, tableMarks, tableUsage, tableBuckets, tableAccounts, tableCursors, tableRegional, tableRegMarks} {
		it, err := s.txn.Get(table, indexID)
		if err != nil {
			return fmt.Errorf("state: dump %s: %w", table, err)
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			if err := enc.Encode(recordOf(obj)); err != nil {
				return fmt.Errorf("state: dump %s: %w", table, err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("state: dump: %w", err)
	}
	return nil
}

// Restore replaces the whole state with a dump written by Dump. The new
// state is built aside and swapped in at once; on error the state is left
// as it was. Snapshots taken before keep the old state; their
// WaitForChange returns. Call it only from the Raft state machine.
func (s *Store) Restore(r io.Reader) error {
	g, err := newGeneration()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReader(r))
	var h dumpHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("%w: header: %w", ErrBadDump, err)
	}
	if h.Format != dumpFormat || h.Version != dumpVersion {
		return fmt.Errorf("%w: format %q version %d", ErrBadDump, h.Format, h.Version)
	}
	txn := g.db.Txn(true)
	defer txn.Abort()
	for n := 1; ; n++ {
		var rec dumpRecord
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrBadDump, n, err)
		}
		if err := restoreRecord(txn.Insert, &rec); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrBadDump, n, err)
		}
	}
	if err := rebuildMonths(txn); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	if h.Index > 0 {
		if err := txn.Insert(tableIndex, &indexRow{Key: indexRowKey, Value: h.Index}); err != nil {
			return fmt.Errorf("state: restore: %w", err)
		}
	}
	txn.Commit()
	old := s.gen.Swap(g)
	close(old.abandon)
	return nil
}

// rebuildMonths sums the restored hourly buckets into the monthly totals,
// which a dump leaves out.
func rebuildMonths(txn *memdb.Txn) error {
	it, err := txn.Get(tableBuckets, indexID)
	if err != nil {
		return err
	}
	months := map[string]*structs.UsageMonth{}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		b := obj.(*structs.UsageBucket)
		id := structs.MonthID(b.TeamID, b.Hour)
		m := months[id]
		if m == nil {
			m = structs.NewUsageMonth(b.TeamID, b.Hour)
			months[id] = m
		}
		m.Plus(b.UsageTotals, 1)
	}
	for _, m := range months {
		if err := txn.Insert(tableMonths, m); err != nil {
			return err
		}
	}
	return nil
}

func recordOf(obj any) *dumpRecord {
	switch o := obj.(type) {
	case *structs.Team:
		return &dumpRecord{Team: o}
	case *structs.APIKey:
		return &dumpRecord{APIKey: o}
	case *structs.Sandbox:
		return &dumpRecord{Sandbox: o}
	case *structs.Node:
		return &dumpRecord{Node: o}
	case *structs.Server:
		return &dumpRecord{Server: o}
	case *structs.UsageMark:
		return &dumpRecord{UsageMark: o}
	case *structs.SandboxUsage:
		return &dumpRecord{SandboxUsage: o}
	case *structs.UsageBucket:
		return &dumpRecord{UsageBucket: o}
	case *billing.Account:
		return &dumpRecord{Account: o}
	case *structs.ExportCursor:
		return &dumpRecord{ExportCursor: o}
	case *structs.RegionUsage:
		return &dumpRecord{RegionUsage: o}
	case *structs.RegionMark:
		return &dumpRecord{RegionMark: o}
	}
	panic(fmt.Sprintf("state: dump: unexpected %T", obj))
}

func restoreRecord(insert func(table string, obj any) error, rec *dumpRecord) error {
	switch {
	case rec.Team != nil:
		return insert(tableTeams, rec.Team)
	case rec.APIKey != nil:
		return insert(tableAPIKeys, rec.APIKey)
	case rec.Sandbox != nil:
		return insert(tableSandboxes, rec.Sandbox)
	case rec.Node != nil:
		return insert(tableNodes, rec.Node)
	case rec.Server != nil:
		return insert(tableServers, rec.Server)
	case rec.UsageMark != nil:
		return insert(tableMarks, rec.UsageMark)
	case rec.SandboxUsage != nil:
		return insert(tableUsage, rec.SandboxUsage)
	case rec.UsageBucket != nil:
		return insert(tableBuckets, rec.UsageBucket)
	case rec.Account != nil:
		return insert(tableAccounts, rec.Account)
	case rec.ExportCursor != nil:
		return insert(tableCursors, rec.ExportCursor)
	case rec.RegionUsage != nil:
		return insert(tableRegional, rec.RegionUsage)
	case rec.RegionMark != nil:
		return insert(tableRegMarks, rec.RegionMark)
	}
	return errors.New("empty record")
}
