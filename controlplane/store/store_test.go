package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// fastConfig returns a config with short Raft timeouts, for tests.
func fastConfig(id, dir string) Config {
	return Config{
		NodeID:           id,
		Dir:              dir,
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
		ApplyTimeout:     5 * time.Second,
	}
}

// mustOpen opens a store with cfg, bootstraps it and waits until it leads.
func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Bootstrap(); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if err := s.WaitForLeader(10 * time.Second); err != nil {
		t.Fatalf("WaitForLeader: %v", err)
	}
	if !s.IsLeader() {
		t.Fatal("single node is not the leader")
	}
	return s
}

// mustNewStore opens a single-node store in a fresh directory.
func mustNewStore(t testing.TB) *Store {
	t.Helper()
	return mustOpen(t, fastConfig("node1", t.TempDir()))
}

func mustApply(t testing.TB, s *Store, typ command.Type, req any) any {
	t.Helper()
	resp, err := s.Apply(context.Background(), typ, req)
	if err != nil {
		t.Fatalf("Apply %v: %v", typ, err)
	}
	return resp
}

func storeDump(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.State().Snapshot().Dump(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recorder collects sandbox events; safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	events []structs.SandboxEvent
}

func (r *recorder) add(ev structs.SandboxEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) get() []structs.SandboxEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]structs.SandboxEvent(nil), r.events...)
}

func TestStoreApply(t *testing.T) {
	s := mustNewStore(t)
	mustApply(t, s, command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "team_a"}})
	sb := mustApply(t, s, command.SandboxCreate, create("sb_1")).(*structs.Sandbox)
	if sb.CreateIndex == 0 || sb.State != structs.SandboxCreating {
		t.Fatalf("created %+v", sb)
	}
	sb = mustApply(t, s, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_1", At: t0, State: structs.SandboxRunning}).(*structs.Sandbox)
	if sb.State != structs.SandboxRunning || sb.ModifyIndex <= sb.CreateIndex {
		t.Fatalf("updated %+v", sb)
	}
	if got := s.State().Snapshot().SandboxByID("sb_1"); got == nil || got.ModifyIndex != sb.ModifyIndex {
		t.Fatalf("state has %+v", got)
	}
	if s.State().Index() != sb.ModifyIndex || s.AppliedIndex() < sb.ModifyIndex {
		t.Fatalf("index %d, applied %d, want %d", s.State().Index(), s.AppliedIndex(), sb.ModifyIndex)
	}

	tests := []struct {
		name   string
		ctx    func() context.Context
		typ    command.Type
		req    any
		code   apperr.Code
		target error
	}{
		{"not found", context.Background, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "nope", At: t0}, apperr.NotFound, apperr.ErrNotFound},
		{"terminal", context.Background, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_1", At: t0, ExpectStates: []structs.SandboxState{structs.SandboxStopped}}, apperr.FailedPrecondition, apperr.ErrFailedPrecondition},
		{"duplicate", context.Background, command.SandboxCreate, create("sb_1"), apperr.InvalidArgument, apperr.ErrInvalidArgument},
		{"wrong payload", context.Background, command.SandboxCreate, &command.TeamUpsertRequest{}, apperr.Internal, command.ErrWrongPayload},
		{"ended context", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "n"}}, apperr.DeadlineExceeded, ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Apply(tt.ctx(), tt.typ, tt.req)
			if err == nil || resp != nil {
				t.Fatalf("Apply = %v, %v; want an error", resp, err)
			}
			if apperr.CodeOf(err) != tt.code || !errors.Is(err, tt.target) {
				t.Fatalf("err = %v (code %s), want code %s and %v", err, apperr.CodeOf(err), tt.code, tt.target)
			}
		})
	}
}

func TestStoreNotLeaderAndNotOpen(t *testing.T) {
	s, err := New(fastConfig("lonely", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), command.NodeUpsert, &command.NodeUpsertRequest{}); !errors.Is(err, ErrNotOpen) || apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("Apply before Open = %v", err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Never bootstrapped: no cluster, so no leader.
	_, err = s.Apply(context.Background(), command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "n"}})
	if !errors.Is(err, ErrNotLeader) || !errors.Is(err, apperr.ErrUnavailable) {
		t.Fatalf("Apply on a follower = %v, want UNAVAILABLE and ErrNotLeader", err)
	}
	if err := s.WaitForLeader(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitForLeader = %v", err)
	}
	if s.IsLeader() || s.LeaderAddr() != "" {
		t.Fatal("a leader without a cluster")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewRequiresIDAndDir(t *testing.T) {
	for _, cfg := range []Config{{Dir: "x"}, {NodeID: "x"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestStoreEventsInOrder(t *testing.T) {
	var rec recorder
	cfg := fastConfig("node1", t.TempDir())
	cfg.OnSandboxEvent = rec.add
	s := mustOpen(t, cfg)
	for _, id := range []string{"a", "b", "c"} {
		mustApply(t, s, command.SandboxCreate, create(id))
		mustApply(t, s, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: id, At: t0, State: structs.SandboxRunning})
	}
	evs := rec.get()
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	for i, ev := range evs {
		if i > 0 && ev.Index <= evs[i-1].Index {
			t.Fatalf("event %d index %d after %d", i, ev.Index, evs[i-1].Index)
		}
		want := structs.SandboxEventCreated
		if i%2 == 1 {
			want = structs.SandboxEventStateChanged
		}
		if ev.Type != want || ev.Sandbox.ModifyIndex != ev.Index {
			t.Fatalf("event %d = %s at %d (sandbox at %d), want %s", i, ev.Type, ev.Index, ev.Sandbox.ModifyIndex, want)
		}
	}
}

func TestStoreRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig("node1", dir)
	s := mustOpen(t, cfg)
	mustApply(t, s, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a"}})
	mustApply(t, s, command.SandboxCreate, create("before"))
	if err := s.TakeSnapshot(); err != nil {
		t.Fatalf("TakeSnapshot: %v", err)
	}
	mustApply(t, s, command.SandboxCreate, create("after"))
	mustApply(t, s, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "after", At: t0, State: structs.SandboxRunning})
	want := storeDump(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots on disk, want 1", len(snaps))
	}
	if _, err := os.Stat(filepath.Join(dir, "raft")); err != nil {
		t.Fatalf("no log dir: %v", err)
	}

	var rec recorder
	cfg.OnSandboxEvent = rec.add
	s2 := mustOpen(t, cfg) // Bootstrap again is a no-op
	if got := storeDump(t, s2); !bytes.Equal(got, want) {
		t.Fatalf("state after restart differs:\n got %s\nwant %s", got, want)
	}
	// The snapshot is restored silently; the log after it is replayed with events.
	evs := rec.get()
	if len(evs) != 2 || evs[0].Sandbox.ID != "after" || evs[1].Type != structs.SandboxEventStateChanged {
		t.Fatalf("replay events = %+v", evs)
	}
	// And it keeps working.
	mustApply(t, s2, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "before", At: t0, State: structs.SandboxStopped})
}
