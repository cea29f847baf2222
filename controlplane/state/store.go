package state

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
)

// Store holds the state. Read it through Snapshot; write it through
// WriteTxn (the Raft state machine only).
type Store struct {
	gen atomic.Pointer[generation]
}

// generation is one memdb database. Restore replaces the generation and
// closes the old one's abandon channel, which wakes every waiter on it.
type generation struct {
	db      *memdb.MemDB
	abandon chan struct{}
}

// New returns an empty store.
func New() (*Store, error) {
	g, err := newGeneration()
	if err != nil {
		return nil, err
	}
	s := &Store{}
	s.gen.Store(g)
	return s, nil
}

func newGeneration() (*generation, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("state: schema: %w", err)
	}
	return &generation{db: db, abandon: make(chan struct{})}, nil
}

// Snapshot returns a point-in-time, read-only view of the state. It is
// cheap (no copy) and stays valid, unchanged, for as long as it is held.
func (s *Store) Snapshot() *Snapshot {
	g := s.gen.Load()
	txn := g.db.Txn(false)
	watch, _, err := txn.FirstWatch(tableIndex, indexID, indexRowKey)
	if err != nil {
		panic(fmt.Sprintf("state: index table: %v", err)) // the schema is fixed
	}
	return &Snapshot{reader: reader{txn: txn}, watch: watch, abandon: g.abandon}
}

// Index returns the log index of the latest write.
func (s *Store) Index() uint64 { return s.Snapshot().Index() }

// WaitForIndex blocks until the state has applied index (or a later one)
// and returns a snapshot that includes it, or returns ctx's error.
func (s *Store) WaitForIndex(ctx context.Context, index uint64) (*Snapshot, error) {
	for {
		snap := s.Snapshot()
		if snap.Index() >= index {
			return snap, nil
		}
		if err := snap.WaitForChange(ctx); err != nil {
			return nil, err
		}
	}
}

// Snapshot is a point-in-time, read-only view of the state. Its methods
// return nil (or an empty slice) for what does not exist. Returned objects
// are shared: do not modify them.
type Snapshot struct {
	reader
	watch   <-chan struct{}
	abandon <-chan struct{}
}

// WaitForChange blocks until the state has changed since the snapshot was
// taken (a write or a restore), or returns ctx's error.
func (s *Snapshot) WaitForChange(ctx context.Context) error {
	select {
	case <-s.watch:
		return nil
	case <-s.abandon:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
