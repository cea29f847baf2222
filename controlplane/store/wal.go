package store

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// openLog opens the Raft log in dir: raft-wal's segments and its meta
// database, which the caller closes after the log (raft-wal does not close
// it on Close). raft-wal v0.4.1 or later is required: v0.4.0 marks the tail
// segment sealed when Raft truncates the log's tail (a follower dropping
// the entries a new leader does not have) without writing its index, and
// then cannot open the log again ("sealed segment has no index block").
func openLog(dir string, hlog hclog.Logger) (*wal.WAL, *metadb.BoltMetaDB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithLogger(hlog))
	if err != nil {
		_ = meta.Close()
		return nil, nil, fmt.Errorf("store: open log in %s: %w", dir, err)
	}
	return w, meta, nil
}

// trimmedLog is the log Raft reads. raft-wal trims the head of the log
// logically (FirstIndex moves) but still returns entries below it while
// they sit in the open tail segment; then a follower that fell behind the
// trailing logs is sent those entries rather than the snapshot. trimmedLog
// reports them as gone, so TrailingLogs means what it says.
type trimmedLog struct {
	*wal.WAL
}

var _ raft.LogStore = trimmedLog{}

// GetLog returns the entry at index, or raft.ErrLogNotFound when it was
// trimmed.
func (l trimmedLog) GetLog(index uint64, log *raft.Log) error {
	first, err := l.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return l.WAL.GetLog(index, log)
}
