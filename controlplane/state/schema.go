package state

import (
	"github.com/hashicorp/go-memdb"
)

// Table names.
const (
	tableTeams     = "teams"
	tableAPIKeys   = "apikeys"
	tableSandboxes = "sandboxes"
	tableNodes     = "nodes"
	tableServers   = "servers"
	tableMarks     = "usage_marks"
	tableUsage     = "usage_sandboxes"
	tableBuckets   = "usage_buckets"
	tableMonths    = "usage_months" // derived from tableBuckets; not dumped
	tableAccounts  = "accounts"
	tableCursors   = "export_cursors"
	tableRegional  = "region_usage" // other regions' monthly totals
	tableRegMarks  = "region_marks" // how far each region's reports have got
	tableIndex     = "index"
)

// Index names.
const (
	indexID    = "id"
	indexHash  = "hash"
	indexTeam  = "team"
	indexNode  = "node"
	indexState = "state"
)

// indexRowKey is the key of the single row of the index table.
const indexRowKey = "latest"

// indexRow records the log index of the latest write.
type indexRow struct {
	Key   string
	Value uint64
}

func idIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}}
}

func fieldIndex(name, field string, unique, allowMissing bool) *memdb.IndexSchema {
	return &memdb.IndexSchema{
		Name:         name,
		Unique:       unique,
		AllowMissing: allowMissing,
		Indexer:      &memdb.StringFieldIndex{Field: field},
	}
}

// schema returns the memdb schema. go-memdb does not enforce the Unique
// flag of secondary indexes; the state machine checks key hashes itself.
func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableTeams: {
			Name:    tableTeams,
			Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()},
		},
		tableAPIKeys: {
			Name: tableAPIKeys,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:   idIndex(),
				indexHash: fieldIndex(indexHash, "Hash", true, false),
				indexTeam: fieldIndex(indexTeam, "TeamID", false, false),
			},
		},
		tableSandboxes: {
			Name: tableSandboxes,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:    idIndex(),
				indexTeam:  fieldIndex(indexTeam, "TeamID", false, false),
				indexNode:  fieldIndex(indexNode, "NodeID", false, true), // not placed yet
				indexState: fieldIndex(indexState, "State", false, false),
			},
		},
		tableNodes: {
			Name:    tableNodes,
			Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()},
		},
		tableServers: {
			Name:    tableServers,
			Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()},
		},
		tableMarks: {
			Name:    tableMarks,
			Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()},
		},
		tableUsage: {
			Name: tableUsage,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:   idIndex(),
				indexTeam: fieldIndex(indexTeam, "TeamID", false, false),
			},
		},
		tableBuckets: {
			Name: tableBuckets,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:   idIndex(),
				indexTeam: fieldIndex(indexTeam, "TeamID", false, false),
			},
		},
		tableMonths: {
			Name: tableMonths,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:   idIndex(),
				indexTeam: fieldIndex(indexTeam, "TeamID", false, false),
			},
		},
		tableAccounts: {
			Name: tableAccounts,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "TeamID"}},
			},
		},
		tableCursors: {
			Name:    tableCursors,
			Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()},
		},
		tableRegional: {
			Name: tableRegional,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:   idIndex(),
				indexTeam: fieldIndex(indexTeam, "TeamID", false, false),
			},
		},
		tableRegMarks: {
			Name:    tableRegMarks,
			Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()},
		},
		tableIndex: {
			Name: tableIndex,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			},
		},
	}}
}
