package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

func mustSave(t testing.TB, s *Store) ([]byte, SnapshotInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := s.SaveSnapshot(&buf)
	if err != nil {
		t.Fatalf("SaveSnapshot on %s: %v", s.NodeID(), err)
	}
	return buf.Bytes(), info
}

// TestSaveRestoreSnapshot: a file saved on a follower, restored on the
// leader after more writes, brings every server back to the saved state.
func TestSaveRestoreSnapshot(t *testing.T) {
	stores := startTCPCluster(t, 3)
	leader := stores[0]
	mustApply(t, leader, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a"}})
	index := createMany(t, leader, "sb", 5)
	for _, s := range stores {
		waitIndex(t, s, index)
	}
	savedIndex, savedSum := mustHash(t, leader)

	file, info := mustSave(t, stores[2])
	if info.Index < index || info.Term == 0 || info.Size <= 0 {
		t.Fatalf("SaveSnapshot = %+v, want at least index %d", info, index)
	}
	var h snapshotHeader
	line, _, _ := bufio.NewReader(bytes.NewReader(file)).ReadLine()
	if err := json.Unmarshal(line, &h); err != nil || h.Magic != snapshotMagic || h.Index != info.Index || h.Size != info.Size ||
		int64(len(file)) != int64(len(line))+1+info.Size || len(h.Configuration) != 3 {
		t.Fatalf("header %+v (%v) for %+v in a %d-byte file", h, err, info, len(file))
	}
	// Nothing new: the same snapshot again.
	if again, info2 := mustSave(t, stores[2]); info2 != info || !bytes.Equal(again, file) {
		t.Fatalf("second SaveSnapshot = %+v, want %+v and the same bytes", info2, info)
	}

	mustApply(t, leader, command.SandboxCreate, create("sb_after"))
	mustApply(t, leader, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb-000", At: t0, State: structs.SandboxStopped})
	if _, sum := mustHash(t, leader); sum == savedSum {
		t.Fatal("the writes after the save did not change the hash")
	}

	if err := stores[1].RestoreSnapshot(bytes.NewReader(file)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("RestoreSnapshot on a follower = %v", err)
	}
	if err := leader.RestoreSnapshot(bytes.NewReader(file)); err != nil {
		t.Fatalf("RestoreSnapshot: %v", err)
	}
	waitSameState(t, savedIndex, savedSum, stores...)
	for _, s := range stores {
		snap := s.State().Snapshot()
		if snap.SandboxByID("sb_after") != nil || snap.SandboxByID("sb-000").State == structs.SandboxStopped {
			t.Fatalf("%s kept writes made after the save", s.NodeID())
		}
	}
	// The cluster goes on from the restored state.
	index = sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create("sb_after")))
	for _, s := range stores {
		waitIndex(t, s, index)
	}
}

func TestRestoreSnapshotRefusesBadFiles(t *testing.T) {
	s := mustNewStore(t)
	createMany(t, s, "sb", 3)
	good, _ := mustSave(t, s)
	mustApply(t, s, command.SandboxCreate, create("sb_after"))
	wantIndex, wantSum := mustHash(t, s)
	snaps, err := s.snaps.List()
	if err != nil {
		t.Fatal(err)
	}
	lastIndex := s.raft.LastIndex()

	headerEnd := bytes.IndexByte(good, '\n') + 1
	withHeader := func(edit func(*snapshotHeader), data []byte) []byte {
		var h snapshotHeader
		if err := json.Unmarshal(good[:headerEnd], &h); err != nil {
			t.Fatal(err)
		}
		edit(&h)
		line, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		return append(append(line, '\n'), data...)
	}
	notADump := []byte(`{"format":"something else"}` + "\n")
	flipped := bytes.Clone(good)
	flipped[len(flipped)-2] ^= 0x20

	tests := []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a snapshot\n at all")},
		{"header only", good[:headerEnd]},
		{"truncated", good[:headerEnd+(len(good)-headerEnd)/2]},
		{"data after the end", append(bytes.Clone(good), "more"...)},
		{"corrupted data", flipped},
		{"wrong magic", withHeader(func(h *snapshotHeader) { h.Magic = "other" }, good[headerEnd:])},
		{"newer version", withHeader(func(h *snapshotHeader) { h.Version = snapshotVersion + 1 }, good[headerEnd:])},
		{"checksummed but not a state dump", withHeader(func(h *snapshotHeader) {
			sum := sha256.Sum256(notADump)
			h.Size, h.SHA256 = int64(len(notADump)), hex.EncodeToString(sum[:])
		}, notADump)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RestoreSnapshot(bytes.NewReader(tt.file))
			if !errors.Is(err, ErrBadSnapshot) || apperr.CodeOf(err) != apperr.InvalidArgument {
				t.Fatalf("RestoreSnapshot = %v, want INVALID_ARGUMENT and ErrBadSnapshot", err)
			}
			if index, sum := mustHash(t, s); index != wantIndex || sum != wantSum {
				t.Fatal("the state changed")
			}
			if got, _ := s.snaps.List(); len(got) != len(snaps) || s.raft.LastIndex() != lastIndex {
				t.Fatalf("Raft took it in: %d snapshots (had %d), last index %d (had %d)", len(got), len(snaps), s.raft.LastIndex(), lastIndex)
			}
		})
	}

	// The good file still restores.
	if err := s.RestoreSnapshot(bytes.NewReader(good)); err != nil {
		t.Fatalf("RestoreSnapshot of the good file: %v", err)
	}
	if s.State().Snapshot().SandboxByID("sb_after") != nil {
		t.Fatal("the good file did not restore")
	}
}

func TestSaveSnapshotOfNothing(t *testing.T) {
	s := startStore(t, fastConfig("lonely", t.TempDir())) // never bootstrapped: no entry at all
	var buf bytes.Buffer
	if _, err := s.SaveSnapshot(&buf); apperr.CodeOf(err) != apperr.FailedPrecondition || buf.Len() != 0 {
		t.Fatalf("SaveSnapshot of an empty store = %v, %d bytes written", err, buf.Len())
	}
}
