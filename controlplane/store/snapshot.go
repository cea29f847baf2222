package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/state"
)

// A snapshot file is one line of JSON, the header, followed by exactly
// header.Size bytes of state data (a state dump, see state.Snapshot.Dump)
// whose SHA-256 is header.SHA256.
const (
	snapshotMagic   = "codeint-snapshot"
	snapshotVersion = 1
	maxHeaderSize   = 64 << 10
)

// SnapshotInfo describes a snapshot file: the Raft index and term the
// snapshot ends at and the size of its state data.
type SnapshotInfo struct {
	Index, Term uint64
	Size        int64
}

// snapshotHeader is the first line of a snapshot file.
type snapshotHeader struct {
	Magic              string           `json:"magic"`
	Version            int              `json:"version"`
	Index              uint64           `json:"index"`
	Term               uint64           `json:"term"`
	ConfigurationIndex uint64           `json:"configurationIndex"`
	Configuration      []snapshotServer `json:"configuration"`
	Size               int64            `json:"size"`
	SHA256             string           `json:"sha256"`
}

// snapshotServer is one server of the configuration a snapshot was taken
// in (for the reader's information: a restore keeps the cluster's own).
type snapshotServer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
}

// SaveSnapshot takes a snapshot now (or, when nothing was applied since
// the latest one, uses that) and writes it to w as a snapshot file. It
// works on any server. It returns what it wrote.
func (s *Store) SaveSnapshot(w io.Writer) (SnapshotInfo, error) {
	if s.raft == nil {
		return SnapshotInfo{}, coded(apperr.Unavailable, ErrNotOpen, "the store is not open")
	}
	id, err := s.snapshotNow()
	if err != nil {
		return SnapshotInfo{}, err
	}
	// Open it twice before reading: once to hash it for the header, once
	// to copy it. An open snapshot stays readable if Raft reaps it.
	meta, hashed, err := s.snaps.Open(id)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot: %w", err)
	}
	defer hashed.Close()
	_, data, err := s.snaps.Open(id)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot: %w", err)
	}
	defer data.Close()

	sum := sha256.New()
	if n, err := io.Copy(sum, hashed); err != nil || n != meta.Size {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: read %d of %d bytes: %v", id, n, meta.Size, err)
	}
	h := snapshotHeader{
		Magic: snapshotMagic, Version: snapshotVersion,
		Index: meta.Index, Term: meta.Term, Size: meta.Size,
		ConfigurationIndex: meta.ConfigurationIndex,
		SHA256:             hex.EncodeToString(sum.Sum(nil)),
	}
	for _, srv := range meta.Configuration.Servers {
		h.Configuration = append(h.Configuration, snapshotServer{ID: string(srv.ID), Address: string(srv.Address), Suffrage: srv.Suffrage.String()})
	}
	line, err := json.Marshal(h)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot: %w", err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot: %w", err)
	}
	if _, err := io.CopyN(w, data, meta.Size); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot: %w", err)
	}
	return SnapshotInfo{Index: meta.Index, Term: meta.Term, Size: meta.Size}, nil
}

// snapshotNow takes a snapshot and returns its id, or the latest one's
// when nothing is new since.
func (s *Store) snapshotNow() (string, error) {
	f := s.raft.Snapshot()
	err := f.Error()
	if err == nil {
		meta, rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("store: save snapshot: %w", err)
		}
		_ = rc.Close()
		return meta.ID, nil
	}
	if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return "", fmt.Errorf("store: save snapshot: %w", err)
	}
	metas, err := s.snaps.List()
	if err != nil {
		return "", fmt.Errorf("store: save snapshot: %w", err)
	}
	if len(metas) == 0 {
		return "", coded(apperr.FailedPrecondition, raft.ErrNothingNewToSnapshot, "nothing to snapshot: no command has been applied yet")
	}
	return metas[0].ID, nil // newest first
}

// RestoreSnapshot, on the leader, replaces the whole cluster's state with
// a snapshot file written by SaveSnapshot: every server ends with the
// saved state (followers through Raft's snapshot install). The Raft
// configuration stays the cluster's own. A file that does not parse, is
// truncated, or fails its checksum is refused with INVALID_ARGUMENT
// wrapping ErrBadSnapshot, and the state is untouched.
//
// Afterwards State().Index() is the index saved in the file, lower than
// the Raft index the restore was committed at.
func (s *Store) RestoreSnapshot(r io.Reader) error {
	if s.raft == nil {
		return coded(apperr.Unavailable, ErrNotOpen, "the store is not open")
	}
	if s.raft.State() != raft.Leader {
		return s.notLeader()
	}
	tmp, err := os.CreateTemp(s.cfg.Dir, "restore-*.tmp")
	if err != nil {
		return fmt.Errorf("store: restore snapshot: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	h, err := spoolSnapshot(r, tmp)
	if err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{
		Version: raft.SnapshotVersionMax,
		Index:   h.Index, Term: h.Term, Size: h.Size,
		ConfigurationIndex: h.ConfigurationIndex,
	}
	if err := s.raft.Restore(meta, tmp, s.cfg.ApplyTimeout); err != nil {
		return s.raftError(err)
	}
	s.log.Info("cluster state restored from a snapshot file", "index", h.Index, "term", h.Term, "bytes", h.Size)
	return nil
}

// spoolSnapshot reads a snapshot file into tmp, checks it completely (header,
// size, checksum, and that the data restores into a scratch state) and
// leaves tmp positioned at the start of the data.
func spoolSnapshot(r io.Reader, tmp *os.File) (*snapshotHeader, error) {
	br := bufio.NewReaderSize(r, maxHeaderSize)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, badSnapshot("no header line: %v", err)
	}
	var h snapshotHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, badSnapshot("header: %v", err)
	}
	if h.Magic != snapshotMagic || h.Version != snapshotVersion {
		return nil, badSnapshot("format %q version %d, want %q version %d", h.Magic, h.Version, snapshotMagic, snapshotVersion)
	}
	if h.Size < 0 || h.Index == 0 {
		return nil, badSnapshot("size %d at index %d", h.Size, h.Index)
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), io.LimitReader(br, h.Size))
	if err != nil {
		return nil, fmt.Errorf("store: restore snapshot: %w", err)
	}
	if n != h.Size {
		return nil, badSnapshot("truncated: %d of %d bytes", n, h.Size)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, badSnapshot("data after the %d bytes the header announces", h.Size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.SHA256 {
		return nil, badSnapshot("checksum %s, header says %s", got, h.SHA256)
	}
	// Raft panics when the state machine cannot restore a snapshot it
	// accepted: try it on a scratch state first.
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("store: restore snapshot: %w", err)
	}
	scratch, err := state.New()
	if err != nil {
		return nil, fmt.Errorf("store: restore snapshot: %w", err)
	}
	if err := scratch.Restore(tmp); err != nil {
		return nil, badSnapshot("%v", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("store: restore snapshot: %w", err)
	}
	return &h, nil
}

func badSnapshot(format string, args ...any) error {
	return coded(apperr.InvalidArgument, ErrBadSnapshot, "not a usable snapshot file: "+format, args...)
}
