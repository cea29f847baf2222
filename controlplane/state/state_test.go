package state

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

func mustNew(t testing.TB) *Store {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// write applies fn in one write transaction at index.
func write(t testing.TB, s *Store, index uint64, fn func(*WriteTxn) error) {
	t.Helper()
	txn := s.WriteTxn(index)
	defer txn.Abort()
	if err := fn(txn); err != nil {
		t.Fatalf("write at %d: %v", index, err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatalf("commit at %d: %v", index, err)
	}
}

func sandbox(id, team, node string, st structs.SandboxState, createIndex uint64) *structs.Sandbox {
	return &structs.Sandbox{ID: id, TeamID: team, NodeID: node, State: st, CreateIndex: createIndex, ModifyIndex: createIndex,
		CreatedAt: time.Unix(int64(createIndex), 0).UTC(), Metadata: []byte(`{"n":1}`)}
}

// mustFill writes two teams, three keys, six sandboxes, two nodes and two
// servers.
func mustFill(t testing.TB, s *Store) {
	t.Helper()
	write(t, s, 10, func(w *WriteTxn) error {
		for _, tm := range []*structs.Team{{ID: "team_a", Name: "a"}, {ID: "team_b", Name: "b"}} {
			if err := w.UpsertTeam(tm); err != nil {
				return err
			}
		}
		for _, k := range []*structs.APIKey{
			{ID: "key_1", TeamID: "team_a", Hash: "h1"},
			{ID: "key_2", TeamID: "team_a", Hash: "h2"},
			{ID: "key_3", TeamID: "team_b", Hash: "h3"},
		} {
			if err := w.UpsertAPIKey(k); err != nil {
				return err
			}
		}
		for _, n := range []*structs.Node{{ID: "node_2"}, {ID: "node_1", RPCAddr: "10.0.0.1:7100"}} {
			if err := w.UpsertNode(n); err != nil {
				return err
			}
		}
		for _, srv := range []*structs.Server{
			{ID: "srv_b", Region: "eu", RaftAddr: "10.0.1.2:7000", RPCAddr: "10.0.1.2:7001", HTTPAddr: "10.0.1.2:8080"},
			{ID: "srv_a", Region: "eu", RaftAddr: "10.0.1.1:7000", UpdatedAt: time.Unix(7, 0).UTC()},
		} {
			if err := w.UpsertServer(srv); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, s, 11, func(w *WriteTxn) error {
		for _, sb := range []*structs.Sandbox{
			sandbox("sb_z", "team_a", "node_1", structs.SandboxRunning, 3),
			sandbox("sb_y", "team_a", "", structs.SandboxCreating, 5),
			sandbox("sb_x", "team_a", "node_1", structs.SandboxStopped, 4),
			sandbox("sb_w", "team_b", "node_2", structs.SandboxExecuting, 1),
			sandbox("sb_v", "team_b", "node_1", structs.SandboxFailed, 2),
			sandbox("sb_u", "team_b", "node_2", structs.SandboxLost, 6),
		} {
			if err := w.UpsertSandbox(sb); err != nil {
				return err
			}
		}
		return nil
	})
}

func ids[T any](objs []*T, id func(*T) string) string {
	var parts []string
	for _, o := range objs {
		parts = append(parts, id(o))
	}
	return strings.Join(parts, ",")
}

func sbIDs(sbs []*structs.Sandbox) string {
	return ids(sbs, func(s *structs.Sandbox) string { return s.ID })
}

func TestQueries(t *testing.T) {
	s := mustNew(t)
	mustFill(t, s)
	snap := s.Snapshot()
	tests := []struct {
		name, got, want string
	}{
		{"teams", ids(snap.Teams(), func(t *structs.Team) string { return t.ID }), "team_a,team_b"},
		{"keys by team", ids(snap.APIKeysByTeam("team_a"), func(k *structs.APIKey) string { return k.ID }), "key_1,key_2"},
		{"keys of unknown team", ids(snap.APIKeysByTeam("nope"), func(k *structs.APIKey) string { return k.ID }), ""},
		{"sandboxes by team newest first", sbIDs(snap.SandboxesByTeam("team_a")), "sb_y,sb_x,sb_z"},
		{"sandboxes by node oldest first", sbIDs(snap.SandboxesByNode("node_1")), "sb_v,sb_z,sb_x"},
		{"sandboxes by state", sbIDs(snap.SandboxesByState(structs.SandboxRunning)), "sb_z"},
		{"non-terminal oldest first", sbIDs(snap.SandboxesNonTerminal()), "sb_w,sb_z,sb_y"},
		{"all sandboxes by id", sbIDs(snap.Sandboxes()), "sb_u,sb_v,sb_w,sb_x,sb_y,sb_z"},
		{"lost by state", sbIDs(snap.SandboxesByState(structs.SandboxLost)), "sb_u"},
		{"nodes", ids(snap.Nodes(), func(n *structs.Node) string { return n.ID }), "node_1,node_2"},
		{"servers by id", ids(snap.Servers(), func(s *structs.Server) string { return s.ID }), "srv_a,srv_b"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if got := snap.Index(); got != 11 {
		t.Errorf("Index = %d, want 11", got)
	}
	if k := snap.APIKeyByHash("h3"); k == nil || k.ID != "key_3" {
		t.Errorf("APIKeyByHash(h3) = %+v", k)
	}
	for name, missing := range map[string]bool{
		"team":   snap.TeamByID("nope") == nil,
		"key":    snap.APIKeyByID("nope") == nil,
		"hash":   snap.APIKeyByHash("nope") == nil,
		"sb":     snap.SandboxByID("nope") == nil,
		"node":   snap.NodeByID("nope") == nil,
		"server": snap.ServerByID("nope") == nil,
		"exists": snap.SandboxByID("sb_z") != nil && snap.TeamByID("team_a") != nil && snap.NodeByID("node_1") != nil,
	} {
		if !missing {
			t.Errorf("%s: lookup wrong", name)
		}
	}
}

func TestSnapshotIsolationAndAbort(t *testing.T) {
	s := mustNew(t)
	before := s.Snapshot()
	if before.Index() != 0 {
		t.Fatalf("empty Index = %d", before.Index())
	}
	txn := s.WriteTxn(5)
	if err := txn.UpsertTeam(&structs.Team{ID: "t"}); err != nil {
		t.Fatal(err)
	}
	if txn.TeamByID("t") == nil {
		t.Fatal("write txn does not see its own write")
	}
	if s.Snapshot().TeamByID("t") != nil {
		t.Fatal("uncommitted write visible")
	}
	txn.Abort()
	if s.Snapshot().TeamByID("t") != nil || s.Index() != 0 {
		t.Fatal("aborted write visible")
	}
	write(t, s, 6, func(w *WriteTxn) error { return w.UpsertTeam(&structs.Team{ID: "t"}) })
	if before.TeamByID("t") != nil {
		t.Fatal("old snapshot sees a later write")
	}
	if s.Index() != 6 {
		t.Fatalf("Index = %d, want 6", s.Index())
	}
	if err := s.WriteTxn(0).Commit(); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Commit at index 0 err = %v", err)
	}
}

func TestWaitForChangeAndIndex(t *testing.T) {
	s := mustNew(t)
	snap := s.Snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := snap.WaitForChange(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForChange without a write = %v", err)
	}

	done := make(chan *Snapshot)
	go func() {
		got, err := s.WaitForIndex(context.Background(), 3)
		if err != nil {
			t.Errorf("WaitForIndex: %v", err)
		}
		done <- got
	}()
	for i := uint64(1); i <= 3; i++ {
		write(t, s, i, func(w *WriteTxn) error { return w.UpsertNode(&structs.Node{ID: "n"}) })
	}
	if got := <-done; got == nil || got.Index() < 3 {
		t.Fatalf("WaitForIndex returned %v", got)
	}

	// A restore wakes waiters too.
	snap = s.Snapshot()
	var buf bytes.Buffer
	if err := mustNew(t).Snapshot().Dump(&buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if err := snap.WaitForChange(context.Background()); err != nil {
		t.Fatalf("WaitForChange after restore = %v", err)
	}
}

func dump(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot().Dump(&buf); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return buf.Bytes()
}

func TestDumpRestoreRoundTrip(t *testing.T) {
	src := mustNew(t)
	mustFill(t, src)
	want := dump(t, src)

	dst := mustNew(t)
	write(t, dst, 99, func(w *WriteTxn) error { return w.UpsertTeam(&structs.Team{ID: "replaced"}) })
	if err := dst.Restore(bytes.NewReader(want)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := dump(t, dst); !bytes.Equal(got, want) {
		t.Fatalf("dump after restore differs:\n got %s\nwant %s", got, want)
	}
	snap := dst.Snapshot()
	if snap.TeamByID("replaced") != nil {
		t.Fatal("restore kept old state")
	}
	if snap.Index() != 11 {
		t.Fatalf("Index after restore = %d, want 11", snap.Index())
	}
	if got := sbIDs(snap.SandboxesByTeam("team_a")); got != "sb_y,sb_x,sb_z" {
		t.Fatalf("indexes not rebuilt: %q", got)
	}
	if k := snap.APIKeyByHash("h2"); k == nil || k.ID != "key_2" {
		t.Fatalf("hash index not rebuilt: %+v", k)
	}
	if srv := snap.ServerByID("srv_b"); srv == nil || srv.RPCAddr != "10.0.1.2:7001" || len(snap.Servers()) != 2 {
		t.Fatalf("servers not restored: %+v (%d)", srv, len(snap.Servers()))
	}
	if !bytes.Contains(want, []byte(`"server":{"id":"srv_a"`)) {
		t.Fatalf("dump lacks the servers: %s", want)
	}
}

func TestServersUpsertDelete(t *testing.T) {
	s := mustNew(t)
	mustFill(t, s)
	write(t, s, 12, func(w *WriteTxn) error {
		if err := w.UpsertServer(&structs.Server{ID: "srv_a", Region: "eu", RaftAddr: "10.0.1.9:7000"}); err != nil {
			return err
		}
		if err := w.DeleteServer("srv_b"); err != nil {
			return err
		}
		return w.DeleteServer("never_there")
	})
	snap := s.Snapshot()
	if got := ids(snap.Servers(), func(s *structs.Server) string { return s.ID }); got != "srv_a" {
		t.Fatalf("servers = %q, want srv_a", got)
	}
	if srv := snap.ServerByID("srv_a"); srv.RaftAddr != "10.0.1.9:7000" {
		t.Fatalf("srv_a not replaced: %+v", srv)
	}
	if snap.Index() != 12 {
		t.Fatalf("Index = %d, want 12", snap.Index())
	}
}

func TestRestoreRejectsBadInput(t *testing.T) {
	tests := map[string]string{
		"empty":         "",
		"not json":      "hello\n",
		"wrong format":  `{"format":"other","version":1,"index":1}` + "\n",
		"wrong version": `{"format":"codeint-state","version":9,"index":1}` + "\n",
		"empty record":  `{"format":"codeint-state","version":1,"index":1}` + "\n{}\n",
		"broken record": `{"format":"codeint-state","version":1,"index":1}` + "\n{\"team\":\n",
		"no id":         `{"format":"codeint-state","version":1,"index":1}` + "\n{\"sandbox\":{\"teamId\":\"t\"}}\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			s := mustNew(t)
			mustFill(t, s)
			before := dump(t, s)
			err := s.Restore(strings.NewReader(in))
			if !errors.Is(err, ErrBadDump) {
				t.Fatalf("Restore err = %v, want ErrBadDump", err)
			}
			if after := dump(t, s); !bytes.Equal(after, before) {
				t.Fatal("failed restore changed the state")
			}
		})
	}
}
