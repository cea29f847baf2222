package store

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// testFSM is a state machine without Raft, fed entries by hand.
type testFSM struct {
	*fsm
	events     []structs.SandboxEvent
	nodeEvents []structs.NodeEvent
	next       uint64
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
	}, onNodeEvent: func(ev structs.NodeEvent) {
		tf.nodeEvents = append(tf.nodeEvents, ev)
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
		{command.ServerUpsert, &command.ServerUpsertRequest{Server: structs.Server{ID: "srv_1", RaftAddr: "10.0.0.1:7000", UpdatedAt: t0}}},
		{command.ServerUpsert, &command.ServerUpsertRequest{Server: structs.Server{ID: "srv_2", RaftAddr: "10.0.0.2:7000", UpdatedAt: t0}}},
		{command.ServerRemove, &command.ServerRemoveRequest{ID: "srv_1"}},
		{command.NodeDown, &command.NodeDownRequest{NodeID: "n1", At: t0.Add(5 * time.Second)}}, // sb_1 becomes LOST
		{command.NodeDown, &command.NodeDownRequest{NodeID: "n9", At: t0.Add(5 * time.Second)}}, // fails
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
	if !bytes.Contains(da, []byte(`"index":15`)) {
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

// placed creates a sandbox on node and moves it to st (through RUNNING
// when st is past it), as the service would.
func (tf *testFSM) placed(t testing.TB, id, node string, st structs.SandboxState) {
	t.Helper()
	req := create(id)
	req.Sandbox.NodeID = node
	tf.mustDo(t, command.SandboxCreate, req)
	if st == structs.SandboxCreating {
		return
	}
	tf.mustDo(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: id, At: t0, State: structs.SandboxRunning})
	if st != structs.SandboxRunning {
		tf.mustDo(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: id, At: t0, State: st})
	}
}

func TestFSMNodeDown(t *testing.T) {
	t1 := t0.Add(time.Minute)
	tf := newTestFSM(t)
	for _, id := range []string{"n1", "n2"} {
		tf.mustDo(t, command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: id, Status: structs.NodeReady, UpdatedAt: t0}})
	}
	tf.placed(t, "sb_run", "n1", structs.SandboxRunning)
	tf.placed(t, "sb_new", "n1", structs.SandboxCreating)
	tf.placed(t, "sb_exec", "n1", structs.SandboxExecuting)
	tf.placed(t, "sb_stopping", "n1", structs.SandboxStopping)
	tf.placed(t, "sb_done", "n1", structs.SandboxStopped)
	tf.placed(t, "sb_other", "n2", structs.SandboxRunning)
	done := *tf.state.Snapshot().SandboxByID("sb_done")
	other := *tf.state.Snapshot().SandboxByID("sb_other")
	tf.events, tf.nodeEvents = nil, nil

	index := tf.next
	res := tf.mustDo(t, command.NodeDown, &command.NodeDownRequest{NodeID: "n1", At: t1}).(*command.NodeDownResult)
	wantLost := "sb_run,sb_new,sb_exec,sb_stopping" // oldest first
	if res.Node.Status != structs.NodeDown || !res.Node.UpdatedAt.Equal(t1) || strings.Join(res.Lost, ",") != wantLost {
		t.Fatalf("result = %+v", res)
	}
	snap := tf.state.Snapshot()
	if n := snap.NodeByID("n1"); n.Status != structs.NodeDown || !n.UpdatedAt.Equal(t1) {
		t.Fatalf("stored node = %+v", n)
	}
	for _, id := range res.Lost {
		sb := snap.SandboxByID(id)
		if sb.State != structs.SandboxLost || sb.StopReason != structs.StopReasonNodeLost || !sb.StoppedAt.Equal(t1) || sb.ModifyIndex != index {
			t.Errorf("%s = %+v", id, sb)
		}
		if id != "sb_new" && !sb.StartedAt.Equal(t0) {
			t.Errorf("%s: StartedAt changed to %v", id, sb.StartedAt)
		}
	}
	if got := snap.SandboxByID("sb_done"); got.State != structs.SandboxStopped || got.ModifyIndex != done.ModifyIndex {
		t.Errorf("terminal sandbox changed: %+v", got)
	}
	if got := snap.SandboxByID("sb_other"); got.State != structs.SandboxRunning || got.ModifyIndex != other.ModifyIndex {
		t.Errorf("sandbox of another node changed: %+v", got)
	}
	if n := snap.NodeByID("n2"); n.Status != structs.NodeReady {
		t.Errorf("other node = %+v", n)
	}

	// Every LOST sandbox goes through the sandbox event path; then the node event.
	var evIDs []string
	for _, ev := range tf.events {
		if ev.Type != structs.SandboxEventStateChanged || ev.Index != index || ev.Sandbox.State != structs.SandboxLost || !ev.At.Equal(t1) {
			t.Errorf("sandbox event = %+v", ev)
		}
		evIDs = append(evIDs, ev.Sandbox.ID)
	}
	if strings.Join(evIDs, ",") != wantLost {
		t.Errorf("sandbox events for %v, want %s", evIDs, wantLost)
	}
	if len(tf.nodeEvents) != 1 {
		t.Fatalf("node events = %+v", tf.nodeEvents)
	}
	if ev := tf.nodeEvents[0]; ev.Type != structs.NodeEventDown || ev.Index != index || ev.Node.ID != "n1" ||
		ev.Node.Status != structs.NodeDown || strings.Join(ev.Lost, ",") != wantLost || !ev.At.Equal(t1) {
		t.Errorf("node event = %+v", ev)
	}

	// A LOST sandbox is terminal.
	wantCode(t, tf.do(t, command.SandboxUpdate, &command.SandboxUpdateRequest{ID: "sb_run", At: t1, State: structs.SandboxRunning}),
		apperr.FailedPrecondition, "is LOST")

	// Down again: nothing more happens.
	tf.events, tf.nodeEvents = nil, nil
	again := tf.mustDo(t, command.NodeDown, &command.NodeDownRequest{NodeID: "n1", At: t1.Add(time.Minute)}).(*command.NodeDownResult)
	if len(again.Lost) != 0 || again.Node.Status != structs.NodeDown || !again.Node.UpdatedAt.Equal(t1) {
		t.Fatalf("second NodeDown = %+v", again)
	}
	if len(tf.events) != 0 || len(tf.nodeEvents) != 0 {
		t.Fatalf("second NodeDown published %+v %+v", tf.events, tf.nodeEvents)
	}

	fails := []struct {
		name string
		req  command.NodeDownRequest
		code apperr.Code
		says string
	}{
		{"unknown node", command.NodeDownRequest{NodeID: "n9", At: t1}, apperr.NotFound, "n9 not found"},
		{"no node", command.NodeDownRequest{At: t1}, apperr.InvalidArgument, "no node"},
		{"no time", command.NodeDownRequest{NodeID: "n2"}, apperr.InvalidArgument, "no time"},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			before := tf.dump(t)
			wantCode(t, tf.do(t, command.NodeDown, &tt.req), tt.code, tt.says)
			if !bytes.Equal(tf.dump(t), before) {
				t.Fatal("failed NodeDown changed the state")
			}
		})
	}
}

func TestFSMNodeEvents(t *testing.T) {
	tf := newTestFSM(t)
	node := structs.Node{ID: "n1", Region: "eu", Status: structs.NodeReady, RPCAddr: "10.0.0.1:7100", UpdatedAt: t0}
	upsert := func(st structs.NodeStatus, at time.Time) {
		n := node
		n.Status, n.UpdatedAt = st, at
		tf.mustDo(t, command.NodeUpsert, &command.NodeUpsertRequest{Node: n})
	}
	upsert(structs.NodeReady, t0)                                                                       // 1: REGISTERED
	upsert(structs.NodeReady, t0.Add(time.Second))                                                      // 2: nothing new
	tf.mustDo(t, command.NodeDown, &command.NodeDownRequest{NodeID: "n1", At: t0.Add(2 * time.Second)}) // 3: DOWN
	upsert(structs.NodeDown, t0.Add(3*time.Second))                                                     // 4: still down
	upsert(structs.NodeReady, t0.Add(4*time.Second))                                                    // 5: READY
	tf.do(t, command.NodeUpsert, &command.NodeUpsertRequest{})                                          // 6: fails
	want := []struct {
		index uint64
		typ   structs.NodeEventType
		at    time.Time
	}{
		{1, structs.NodeEventRegistered, t0},
		{3, structs.NodeEventDown, t0.Add(2 * time.Second)},
		{5, structs.NodeEventReady, t0.Add(4 * time.Second)},
	}
	if len(tf.nodeEvents) != len(want) {
		t.Fatalf("%d node events, want %d: %+v", len(tf.nodeEvents), len(want), tf.nodeEvents)
	}
	for i, w := range want {
		ev := tf.nodeEvents[i]
		if ev.Index != w.index || ev.Type != w.typ || !ev.At.Equal(w.at) || ev.Node.ID != "n1" || ev.Node.RPCAddr != node.RPCAddr {
			t.Errorf("event %d = %+v, want %+v", i, ev, w)
		}
	}
	if n := tf.state.Snapshot().NodeByID("n1"); n.Status != structs.NodeReady || n.RPCAddr != "10.0.0.1:7100" {
		t.Fatalf("stored node = %+v", n)
	}
}

func TestFSMServers(t *testing.T) {
	tf := newTestFSM(t)
	srv := structs.Server{ID: "srv_1", Region: "eu", RaftAddr: "10.0.0.1:7000", RPCAddr: "10.0.0.1:7001", HTTPAddr: "10.0.0.1:8080", UpdatedAt: t0}
	got := tf.mustDo(t, command.ServerUpsert, &command.ServerUpsertRequest{Server: srv}).(*structs.Server)
	if *got != srv {
		t.Fatalf("upsert result = %+v", got)
	}
	got.RPCAddr = "changed"
	if stored := tf.state.Snapshot().ServerByID("srv_1"); *stored != srv {
		t.Fatalf("stored = %+v (the result must be a copy)", stored)
	}
	srv.RaftAddr = "10.0.0.9:7000"
	tf.mustDo(t, command.ServerUpsert, &command.ServerUpsertRequest{Server: srv})
	tf.mustDo(t, command.ServerUpsert, &command.ServerUpsertRequest{Server: structs.Server{ID: "srv_2"}})
	if stored := tf.state.Snapshot().ServerByID("srv_1"); stored.RaftAddr != "10.0.0.9:7000" {
		t.Fatalf("not replaced: %+v", stored)
	}
	if resp := tf.mustDo(t, command.ServerRemove, &command.ServerRemoveRequest{ID: "srv_1"}); resp != nil {
		t.Fatalf("remove result = %v, want nil", resp)
	}
	index := tf.next
	if resp := tf.mustDo(t, command.ServerRemove, &command.ServerRemoveRequest{ID: "never_there"}); resp != nil {
		t.Fatalf("remove of an unknown id = %v", resp)
	}
	snap := tf.state.Snapshot()
	if srvs := snap.Servers(); len(srvs) != 1 || srvs[0].ID != "srv_2" || snap.Index() != index {
		t.Fatalf("servers = %+v at index %d", srvs, snap.Index())
	}
	wantCode(t, tf.do(t, command.ServerUpsert, &command.ServerUpsertRequest{}), apperr.InvalidArgument, "id")
	wantCode(t, tf.do(t, command.ServerRemove, &command.ServerRemoveRequest{}), apperr.InvalidArgument, "no server")
}

// TestFSMResultTypesMatchNewResult checks that command.NewResult, which a
// forwarding layer decodes results into, names the type the state machine
// actually returns, for every known command type.
func TestFSMResultTypesMatchNewResult(t *testing.T) {
	reqs := map[command.Type]any{
		command.TeamUpsert:    &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a"}},
		command.APIKeyUpsert:  &command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_1", TeamID: "team_a", Hash: hashOf("d")}},
		command.NodeUpsert:    &command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady}},
		command.SandboxCreate: create("sb_1"),
		command.SandboxUpdate: &command.SandboxUpdateRequest{ID: "sb_1", At: t0, State: structs.SandboxRunning},
		command.NodeDown:      &command.NodeDownRequest{NodeID: "n1", At: t0},
		command.ServerUpsert:  &command.ServerUpsertRequest{Server: structs.Server{ID: "srv_1"}},
		command.ServerRemove:  &command.ServerRemoveRequest{ID: "srv_1"},
		command.NodeDrain:     &command.NodeDrainRequest{NodeID: "n1", Draining: true, Reason: "operator", At: t0},
		command.UsageIngest:   &command.UsageIngestRequest{NodeID: "n1", At: t0, Records: []structs.UsageRecord{usageRec("n1", 1, t0, 10)}},
		command.AccountUpdate: &command.AccountUpdateRequest{TeamID: "team_a", Change: billing.AccountChange{ClearLimits: true}, At: t0},
		command.ExportCursor:  &command.ExportCursorRequest{Exporter: "s3", Hour: t0, At: t0},
		command.RegionUsage:   &command.RegionUsageRequest{At: t0, Reports: []structs.RegionReport{{Region: "eu", AsOf: 1}}},
	}
	order := []command.Type{command.TeamUpsert, command.APIKeyUpsert, command.NodeUpsert, command.SandboxCreate,
		command.SandboxUpdate, command.NodeDown, command.ServerUpsert, command.ServerRemove, command.NodeDrain, command.UsageIngest,
		command.AccountUpdate, command.ExportCursor, command.RegionUsage}
	for typ := range 256 {
		if command.Type(typ).Known() && reqs[command.Type(typ)] == nil {
			t.Fatalf("no request for known type %v: add it to this test", command.Type(typ))
		}
	}
	tf := newTestFSM(t)
	for _, typ := range order {
		resp := tf.mustDo(t, typ, reqs[typ])
		if got, want := reflect.TypeOf(resp), reflect.TypeOf(command.NewResult(typ)); got != want {
			t.Errorf("%v: the FSM returns %v, NewResult gives %v", typ, got, want)
		}
	}
}

// A drain is kept through the agent's re-registration and ends only by
// another NodeDrain; each change is one node event.
func TestFSMNodeDrain(t *testing.T) {
	tf := newTestFSM(t)
	var events []structs.NodeEventType
	tf.fsm.onNodeEvent = func(ev structs.NodeEvent) { events = append(events, ev.Type) }
	tf.mustDo(t, command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady}})
	resp := tf.mustDo(t, command.NodeDrain, &command.NodeDrainRequest{NodeID: "n1", Draining: true, Reason: "nomad: draining", At: t0})
	if n := resp.(*structs.Node); !n.Draining || n.DrainReason != "nomad: draining" {
		t.Fatalf("after the drain: %+v", n)
	}
	tf.mustDo(t, command.NodeDrain, &command.NodeDrainRequest{NodeID: "n1", Draining: true, Reason: "nomad: draining", At: t0})
	tf.mustDo(t, command.NodeUpsert, &command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady, VCPUs: 8}})
	if n := tf.state.Snapshot().NodeByID("n1"); !n.Draining || n.VCPUs != 8 {
		t.Fatalf("a re-registration must keep the drain: %+v", n)
	}
	tf.mustDo(t, command.NodeDrain, &command.NodeDrainRequest{NodeID: "n1", Draining: false, At: t0})
	if n := tf.state.Snapshot().NodeByID("n1"); n.Draining || n.DrainReason != "" {
		t.Fatalf("after the drain ended: %+v", n)
	}
	want := []structs.NodeEventType{structs.NodeEventRegistered, structs.NodeEventDrain, structs.NodeEventEligible}
	if !slices.Equal(events, want) {
		t.Fatalf("node events %v, want %v", events, want)
	}
	wantCode(t, tf.do(t, command.NodeDrain, &command.NodeDrainRequest{NodeID: "nope", Draining: true, At: t0}), apperr.NotFound, "not found")
	wantCode(t, tf.do(t, command.NodeDrain, &command.NodeDrainRequest{NodeID: "n1", Draining: true}), apperr.InvalidArgument, "no time")
}
