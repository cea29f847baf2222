package store

import (
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
)

// trimmedLog is the log Raft reads. raft-wal v0.4.0 trims the head of the
// log logically (FirstIndex moves) but still returns entries below it while
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
