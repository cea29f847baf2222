package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// StateHash returns the SHA-256 (hex) of the state's dump and the index the
// state is at. The dump is deterministic (tables in a fixed order, objects
// by id), so two servers that applied the same log report the same sum at
// the same index, whether they got there by the log or by a snapshot.
func (s *Store) StateHash() (index uint64, sum string, err error) {
	snap := s.state.Snapshot()
	h := sha256.New()
	if err := snap.Dump(h); err != nil {
		return 0, "", fmt.Errorf("store: state hash: %w", err)
	}
	return snap.Index(), hex.EncodeToString(h.Sum(nil)), nil
}
