package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// testFSM is a state machine without Raft, fed entries by hand.
type testFSM struct {
	*fsm
	events []structs.SandboxEvent
	next   uint64
}

func newTestFSM(t testing.TB) *testFSM {
	t.Helper()
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	tf := &testFSM{next: 1}
	tf.fsm = &fsm{state: st, log: slog.New(slog.DiscardHandler), onEvent: func(ev structs.SandboxEvent) {
		tf.events = append(tf.events, ev)
	}}
	return tf
}

// entry encodes a command as a Raft log entry.
func entry(t testing.TB, index uint64, typ command.Type, req any) *raft.Log {
	t.Helper()
	b, err := command.Encode(typ, req)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: b}
}

// do applies a command at the next index and returns the response.
func (tf *testFSM) do(t testing.TB, typ command.Type, req any) any {
	t.Helper()
	resp := tf.Apply(entry(t, tf.next, typ, req))
	tf.next++
	return resp
}

// mustDo applies a command that must succeed.
func (tf *testFSM) mustDo(t testing.TB, typ command.Type, req any) any {
	t.Helper()
	resp := tf.do(t, typ, req)
	if err, ok := resp.(error); ok {
		t.Fatalf("%v: %v", typ, err)
	}
	return resp
}

func (tf *testFSM) dump(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tf.state.Snapshot().Dump(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hashOf(s string) string { return strings.Repeat(s, 64)[:64] }

func create(id string) *command.SandboxCreateRequest {
	return &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{
		ID: id, TeamID: "team_a", Template: "python", VCPUs: 1, MemoryMB: 512, TimeoutSeconds: 300,
	}}
}

func ptr[T any](v T) *T { return &v }

func wantCode(t testing.TB, resp any, code apperr.Code, contains string) {
	t.Helper()
	err, ok := resp.(error)
	if !ok {
		t.Fatalf("response %v, want a %s error", resp, code)
	}
	if apperr.CodeOf(err) != code {
		t.Fatalf("code = %s (%v), want %s", apperr.CodeOf(err), err, code)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not say %q", err, contains)
	}
}

func TestFSMUnknownTypes(t *testing.T) {
	tf := newTestFSM(t)
	before := tf.dump(t)
	if resp := tf.Apply(entry(t, 1, command.IgnoreUnknownTypeFlag|42, map[string]int{"future": 1})); resp != nil {
		t.Fatalf("ignorable unknown type: response %v, want nil", resp)
	}
	if !bytes.Equal(tf.dump(t), before) {
		t.Fatal("skipped command changed the state")
	}
	panics := map[string]*raft.Log{
		"unknown type":   entry(t, 2, 42, map[string]int{"future": 1}),
		"empty entry":    {Index: 3, Type: raft.LogCommand, Data: nil},
		"broken payload": {Index: 4, Type: raft.LogCommand, Data: append([]byte{byte(command.SandboxCreate)}, "{"...)},
	}
	for name, l := range panics {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tf.Apply(l)
		})
	}
	// Raft's own entries are not commands.
	if resp := tf.Apply(&raft.Log{Index: 5, Type: raft.LogNoop}); resp != nil {
		t.Fatalf("noop: %v", resp)
	}
}

func TestFSMTeamsKeysNodes(t *testing.T) {
	tf := newTestFSM(t)
	team := tf.mustDo(t, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a", Name: "a"}}).(*structs.Team)
	if team.Name != "a" {
		t.Fatalf("team = %+v", team)
	}
	key := structs.APIKey{ID: "key_1", TeamID: "team_a", Hash: hashOf("a")}
	tf.mustDo(t, command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: key})
	node := tf.mustDo(t, command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady}}).(*structs.Node)
	if node.ID != "n1" {
		t.Fatalf("node = %+v", node)
	}
	tests := []struct {
		name string
		typ  command.Type
		req  any
		code apperr.Code
		says string
	}{
		{"team without id", command.TeamUpsert, &command.TeamUpsertRequest{}, apperr.InvalidArgument, "id"},
		{"node without id", command.NodeUpsert, &command.NodeUpsertRequest{}, apperr.InvalidArgument, "id"},
		{"key without id", command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: structs.APIKey{TeamID: "team_a", Hash: hashOf("b")}}, apperr.InvalidArgument, "id"},
		{"key with a secret for a hash", command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_2", TeamID: "team_a", Hash: "ci_secret"}}, apperr.InvalidArgument, "SHA-256"},
		{"key with upper-case hash", command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_2", TeamID: "team_a", Hash: hashOf("A")}}, apperr.InvalidArgument, "SHA-256"},
		{"key of unknown team", command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_2", TeamID: "nope", Hash: hashOf("b")}}, apperr.InvalidArgument, "does not exist"},
		{"key with a taken hash", command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_2", TeamID: "team_a", Hash: hashOf("a")}}, apperr.InvalidArgument, "same secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tf.dump(t)
			wantCode(t, tf.do(t, tt.typ, tt.req), tt.code, tt.says)
			if !bytes.Equal(tf.dump(t), before) {
				t.Fatal("failed command changed the state")
			}
		})
	}
	// Replacing a key under the same id with the same hash is fine.
	key.Name = "renamed"
	tf.mustDo(t, command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: key})
	if got := tf.state.Snapshot().APIKeyByHash(key.Hash); got == nil || got.Name != "renamed" {
		t.Fatalf("key after replace = %+v", got)
	}
}

func TestFSMSandboxCreate(t *testing.T) {
	tf := newTestFSM(t)
	tf.next = 7
	req := create("sb_1")
	req.Sandbox.StartedAt = t0.Add(time.Hour) // ignored: the FSM decides
	sb := tf.mustDo(t, command.SandboxCreate, req).(*structs.Sandbox)
	if sb.State != structs.SandboxCreating || !sb.CreatedAt.Equal(t0) || sb.CreateIndex != 7 || sb.ModifyIndex != 7 || !sb.StartedAt.IsZero() {
		t.Fatalf("created = %+v", sb)
	}
	running := create("sb_2")
	running.Sandbox.State = structs.SandboxRunning
	if sb := tf.mustDo(t, command.SandboxCreate, running).(*structs.Sandbox); !sb.StartedAt.Equal(t0) {
		t.Fatalf("created running: StartedAt = %v", sb.StartedAt)
	}
	tests := []struct {
		name string
		req  *command.SandboxCreateRequest
		says string
	}{
		{"duplicate id", create("sb_1"), "already exists"},
		{"no id", create(""), "needs an id"},
		{"no team", &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: "sb_3"}}, "team"},
		{"bad state", &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: "sb_3", TeamID: "t", State: "ASLEEP"}}, "unknown state"},
		{"negative timeout", &command.SandboxCreateRequest{At: t0, Sandbox: structs.Sandbox{ID: "sb_3", TeamID: "t", TimeoutSeconds: -1}}, "negative"},
		{"no time", &command.SandboxCreateRequest{Sandbox: structs.Sandbox{ID: "sb_3", TeamID: "t"}}, "no time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tf.dump(t)
			wantCode(t, tf.do(t, command.SandboxCreate, tt.req), apperr.InvalidArgument, tt.says)
			if !bytes.Equal(tf.dump(t), before) {
				t.Fatal("failed create changed the state")
			}
		})
	}
	// The response is a copy: changing it does not change the state.
	sb.Template = "changed"
	if got := tf.state.Snapshot().SandboxByID("sb_1"); got.Template != "python" {
		t.Fatal("response aliases the state")
	}
}

func TestFSMSandboxUpdate(t *testing.T) {
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	type step struct {
		req  command.SandboxUpdateRequest
		code apperr.Code // "" = must succeed
		says string
		want func(*structs.Sandbox) bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"unknown id", []step{
			{req: command.SandboxUpdateRequest{ID: "nope", At: t1, State: structs.SandboxRunning}, code: apperr.NotFound, says: "nope not found"},
		}},
		{"start sets StartedAt once, from the entry", []step{
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, State: structs.SandboxRunning, NodeID: "n1"},
				want: func(s *structs.Sandbox) bool { return s.StartedAt.Equal(t1) && s.NodeID == "n1" && s.ModifyIndex == 2 }},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t2, State: structs.SandboxExecuting},
				want: func(s *structs.Sandbox) bool { return s.StartedAt.Equal(t1) }},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t3, State: structs.SandboxRunning},
				want: func(s *structs.Sandbox) bool { return s.StartedAt.Equal(t1) && s.StoppedAt.IsZero() }},
		}},
		{"stop sets StoppedAt and is final", []step{
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, State: structs.SandboxStopped, StopReason: structs.StopReasonTerminated},
				want: func(s *structs.Sandbox) bool {
					return s.StoppedAt.Equal(t1) && s.StopReason == structs.StopReasonTerminated && s.StartedAt.IsZero()
				}},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t2, State: structs.SandboxRunning}, code: apperr.FailedPrecondition, says: "is STOPPED"},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t2, State: structs.SandboxFailed}, code: apperr.FailedPrecondition, says: "is STOPPED"},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t2, TimeoutSeconds: ptr(10)}, code: apperr.FailedPrecondition, says: "is STOPPED"},
		}},
		{"failed is final", []step{
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, State: structs.SandboxFailed, Error: "boom", StopReason: structs.StopReasonStartFailed},
				want: func(s *structs.Sandbox) bool { return s.StoppedAt.Equal(t1) && s.Error == "boom" }},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t2, State: structs.SandboxStopped}, code: apperr.FailedPrecondition, says: "is FAILED"},
		}},
		{"expect states compare and set", []step{
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, ExpectStates: []structs.SandboxState{structs.SandboxRunning}, State: structs.SandboxStopping},
				code: apperr.FailedPrecondition, says: "is CREATING"},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, ExpectStates: []structs.SandboxState{structs.SandboxRunning, structs.SandboxCreating}, State: structs.SandboxStopping},
				want: func(s *structs.Sandbox) bool { return s.State == structs.SandboxStopping }},
		}},
		{"timeout and expiry", []step{
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, TimeoutSeconds: ptr(60), ExpiresAt: ptr(t0.Add(time.Minute))},
				want: func(s *structs.Sandbox) bool {
					return s.TimeoutSeconds == 60 && s.ExpiresAt.Equal(t0.Add(time.Minute)) && s.State == structs.SandboxCreating
				}},
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, TimeoutSeconds: ptr(-1)}, code: apperr.InvalidArgument, says: "negative"},
		}},
		{"bad input", []step{
			{req: command.SandboxUpdateRequest{ID: "sb", At: t1, State: "ASLEEP"}, code: apperr.InvalidArgument, says: "unknown state"},
			{req: command.SandboxUpdateRequest{ID: "sb", State: structs.SandboxRunning}, code: apperr.InvalidArgument, says: "no time"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFSM(t)
			tf.mustDo(t, command.SandboxCreate, create("sb"))
			for i, st := range tt.steps {
				before := tf.dump(t)
				resp := tf.do(t, command.SandboxUpdate, &st.req)
				if st.code != "" {
					wantCode(t, resp, st.code, st.says)
					if !bytes.Equal(tf.dump(t), before) {
						t.Fatalf("step %d: failed update changed the state", i)
					}
					continue
				}
				sb, ok := resp.(*structs.Sandbox)
				if !ok {
					t.Fatalf("step %d: response %v", i, resp)
				}
				if !st.want(sb) {
					t.Fatalf("step %d: sandbox %+v", i, sb)
				}
				if stored := tf.state.Snapshot().SandboxByID("sb"); stored.ModifyIndex != tf.next-1 || !st.want(stored) {
					t.Fatalf("step %d: stored %+v", i, stored)
				}
			}
		})
	}
}

func TestFSMEvents(t *testing.T) {
	tf := newTestFSM(t)
	tf.mustDo(t, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a"}}) // 1: no event
	tf.mustDo(t, command.SandboxCreate, create("sb"))                                              // 2
	tf.mustDo(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb", At: t0, State: structs.SandboxRunning})
	tf.do(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "nope", At: t0}) // 4: fails, no event
	tf.mustDo(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb", At: t0, TimeoutSeconds: ptr(9)})
	tf.mustDo(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb", At: t0, State: structs.SandboxStopped})
	want := []struct {
		index uint64
		typ   structs.SandboxEventType
		state structs.SandboxState
	}{
		{2, structs.SandboxEventCreated, structs.SandboxCreating},
		{3, structs.SandboxEventStateChanged, structs.SandboxRunning},
		{5, structs.SandboxEventTimeoutChanged, structs.SandboxRunning},
		{6, structs.SandboxEventStateChanged, structs.SandboxStopped},
	}
	if len(tf.events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(tf.events), len(want), tf.events)
	}
	for i, w := range want {
		ev := tf.events[i]
		if ev.Index != w.index || ev.Type != w.typ || ev.Sandbox.State != w.state || ev.Sandbox.ModifyIndex != w.index {
			t.Errorf("event %d = {%d %s %s}, want %+v", i, ev.Index, ev.Type, ev.Sandbox.State, w)
		}
	}
}

// script is a log touching every command type, with failures among them.
func script(t testing.TB) []*raft.Log {
	reqs := []struct {
		typ command.Type
		req any
	}{
		{command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a", Name: "a", CreatedAt: t0}}},
		{command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_1", TeamID: "team_a", Hash: hashOf("c")}}},
		{command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady, UpdatedAt: t0}}},
		{command.SandboxCreate, create("sb_1")},
		{command.SandboxCreate, create("sb_2")},
		{command.SandboxCreate, create("sb_1")}, // fails
		{command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_1", At: t0.Add(time.Second), State: structs.SandboxRunning, NodeID: "n1"}},
		{command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_2", At: t0.Add(2 * time.Second), State: structs.SandboxFailed, Error: "no capacity"}},
		{command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_2", At: t0.Add(3 * time.Second), State: structs.SandboxRunning}}, // fails
		{command.IgnoreUnknownTypeFlag | 77, map[string]string{"from": "the future"}},
		{command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_1", At: t0.Add(4 * time.Second), ExpiresAt: ptr(t0.Add(time.Hour))}},
	}
	var logs []*raft.Log
	for i, r := range reqs {
		logs = append(logs, entry(t, uint64(i+1), r.typ, r.req))
	}
	return logs
}

func TestFSMDeterministic(t *testing.T) {
	a, b := newTestFSM(t), newTestFSM(t)
	for _, l := range script(t) {
		a.Apply(l)
	}
	for _, l := range script(t) {
		b.Apply(l)
	}
	da, db := a.dump(t), b.dump(t)
	if !bytes.Equal(da, db) {
		t.Fatalf("same log, different states:\n%s\n%s", da, db)
	}
	if !bytes.Contains(da, []byte(`"index":11`)) {
		t.Fatalf("dump header lacks the index: %s", da)
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	src := newTestFSM(t)
	for _, l := range script(t) {
		src.Apply(l)
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := src.dump(t)
	// Later writes do not reach a snapshot already taken.
	src.Apply(entry(t, 100, command.SandboxCreate, create("sb_late")))
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("Persist: %v (closed %v)", err, sink.closed)
	}
	snap.Release()

	dst := newTestFSM(t)
	dst.mustDo(t, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "stale"}})
	if err := dst.Restore(readCloser{bytes.NewReader(sink.Bytes())}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := dst.dump(t); !bytes.Equal(got, want) {
		t.Fatalf("restored state differs:\n got %s\nwant %s", got, want)
	}
	if err := dst.Restore(readCloser{strings.NewReader("junk")}); !errors.Is(err, state.ErrBadDump) {
		t.Fatalf("Restore(junk) = %v", err)
	}
}

type readCloser struct {
	r interface{ Read([]byte) (int, error) }
}

func (r readCloser) Read(p []byte) (int, error) { return r.r.Read(p) }
func (readCloser) Close() error                 { return nil }
