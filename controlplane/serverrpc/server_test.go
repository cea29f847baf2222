package serverrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestHeartbeatRoundTrip: a heartbeat crosses the wire as JSON and
// reaches the backend as sent; the reply comes back as the backend gave
// it.
func TestHeartbeatRoundTrip(t *testing.T) {
	reply := nodes.Reply{Kill: []string{"sb_old", "sb_gone"}, Interval: 1500 * time.Millisecond, TTL: 9 * time.Second}
	b := &fakeBackend{reply: reply}
	c := client(t, serveLeader(t, b))
	hb := nodes.Heartbeat{
		Node: structs.Node{ID: "n1", Region: "r1", Zone: "z1", RPCAddr: "10.0.0.1:7001", VCPUs: 7.5, MemoryMB: 4096, DiskMB: 10000,
			Templates: []string{"base", "python"}, Runtimes: []string{"RUNC", "GVISOR"}},
		Sandboxes: []string{"sb_1", "sb_2"},
		FreeSlots: map[string]int{"base/RUNC": 2, "python/GVISOR": 1},
		Used:      nodes.Usage{VCPUs: 1.5, MemoryMB: 512, Sandboxes: 2},
		Exited:    map[string]string{"sb_3": "ENVD_EXITED"},
	}
	got, err := SendHeartbeat(testCtx(t), c, hb)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reply) {
		t.Errorf("reply %+v, want %+v", got, reply)
	}
	if _, _, _, beats := b.received(); len(beats) != 1 || !reflect.DeepEqual(beats[0], hb) {
		t.Errorf("the backend got %+v, want %+v", beats, hb)
	}
}

// TestHeartbeatRefusesBadJSON: a beat that is not a heartbeat's JSON is
// INVALID_ARGUMENT and reaches no backend.
func TestHeartbeatRefusesBadJSON(t *testing.T) {
	b := &fakeBackend{}
	c := client(t, serveLeader(t, b))
	_, err := c.Heartbeat(testCtx(t), &serverpb.HeartbeatRequest{Heartbeat: []byte("{not json")})
	if err = forward.FromStatus(err); apperr.CodeOf(err) != apperr.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	if calls := b.called(); len(calls) != 0 {
		t.Fatalf("backend called: %v", calls)
	}
}

// TestFollowerForwardsLeaderOnlyCalls: Join, RemovePeer, Heartbeat,
// ReadIndex and SnapshotRestore sent to a follower reach the leader's
// backend, never the follower's, and their answers come back.
func TestFollowerForwardsLeaderOnlyCalls(t *testing.T) {
	leader := &fakeBackend{readIndex: 42, restoreIndex: 77, reply: nodes.Reply{Kill: []string{"sb_x"}, Interval: time.Second}}
	follower := &fakeBackend{}
	c := client(t, serveFollower(t, follower, serveLeader(t, leader)))
	ctx := testCtx(t)

	join := &serverpb.JoinRequest{NodeId: "s3", Region: "r1", RaftAddr: "127.0.0.1:7003", RpcAddr: "127.0.0.1:8003", HttpAddr: "127.0.0.1:9003"}
	if _, err := c.Join(ctx, join); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if _, err := c.RemovePeer(ctx, &serverpb.RemovePeerRequest{NodeId: "s2"}); err != nil {
		t.Fatalf("RemovePeer: %v", err)
	}
	reply, err := SendHeartbeat(ctx, c, nodes.Heartbeat{Node: structs.Node{ID: "n1"}, Sandboxes: []string{"sb_x"}})
	if err != nil || !slices.Equal(reply.Kill, []string{"sb_x"}) || reply.Interval != time.Second {
		t.Fatalf("Heartbeat: %+v, %v", reply, err)
	}
	ri, err := c.ReadIndex(ctx, &serverpb.ReadIndexRequest{})
	if err != nil || ri.GetIndex() != 42 {
		t.Fatalf("ReadIndex: %v, %v", ri, err)
	}
	data := patterned(chunkSize + 99)
	idx, err := SendSnapshot(ctx, c, bytes.NewReader(data))
	if err != nil || idx != 77 {
		t.Fatalf("SnapshotRestore: %d, %v", idx, err)
	}

	if calls := follower.called(); len(calls) != 0 {
		t.Errorf("the follower's backend served %v", calls)
	}
	want := []string{"Join", "RemovePeer", "Heartbeat", "ReadIndex", "RestoreSnapshot"}
	if calls := leader.called(); !slices.Equal(calls, want) {
		t.Errorf("the leader's backend served %v, want %v", calls, want)
	}
	joins, removed, restored, beats := leader.received()
	if len(joins) != 1 || joins[0].GetNodeId() != "s3" || joins[0].GetHttpAddr() != "127.0.0.1:9003" {
		t.Errorf("join reached the leader as %v", joins)
	}
	if !slices.Equal(removed, []string{"s2"}) {
		t.Errorf("removed %v", removed)
	}
	if len(beats) != 1 || beats[0].Node.ID != "n1" {
		t.Errorf("beats %+v", beats)
	}
	if !bytes.Equal(restored, data) {
		t.Errorf("the leader restored %d bytes that differ from the %d uploaded", len(restored), len(data))
	}
}

// TestFollowerServesItsOwnReads: Status and ListPeers answer from the
// server asked, leader or not.
func TestFollowerServesItsOwnReads(t *testing.T) {
	leader := &fakeBackend{}
	follower := &fakeBackend{status: &serverpb.StatusReply{NodeId: "s2", LeaderId: "s1"},
		peers: []*serverpb.Peer{{NodeId: "s1", Leader: true, Voter: true}, {NodeId: "s2", Voter: true}}}
	c := client(t, serveFollower(t, follower, serveLeader(t, leader)))
	ctx := testCtx(t)
	st, err := c.Status(ctx, &serverpb.StatusRequest{})
	if err != nil || st.GetNodeId() != "s2" || st.GetLeaderId() != "s1" {
		t.Fatalf("Status: %v, %v", st, err)
	}
	peers, err := c.ListPeers(ctx, &serverpb.ListPeersRequest{})
	if err != nil || len(peers.GetPeers()) != 2 || !peers.GetPeers()[0].GetLeader() {
		t.Fatalf("ListPeers: %v, %v", peers, err)
	}
	if calls := leader.called(); len(calls) != 0 {
		t.Fatalf("the leader served %v", calls)
	}
}

// TestApplyIsNeverForwarded: a follower's Apply answers the backend's
// refusal (UNAVAILABLE, not leader) instead of calling the leader.
func TestApplyIsNeverForwarded(t *testing.T) {
	leader := &fakeBackend{applyFn: func(command.Type, any) (any, error) { return nil, nil }}
	follower := &fakeBackend{applyFn: func(command.Type, any) (any, error) {
		return nil, fmt.Errorf("%w: %w", apperr.New(apperr.Unavailable, "this server is not the leader (the leader is s1)"), store.ErrNotLeader)
	}}
	c := client(t, serveFollower(t, follower, serveLeader(t, leader)))
	payload, _ := json.Marshal(command.TeamUpsertRequest{Team: structs.Team{ID: "t1"}})
	_, err := c.Apply(testCtx(t), &serverpb.ApplyRequest{Type: uint32(command.TeamUpsert), Payload: payload})
	err = forward.FromStatus(err)
	if !errors.Is(err, store.ErrNotLeader) || apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE wrapping store.ErrNotLeader", err)
	}
	if calls := leader.called(); len(calls) != 0 {
		t.Fatalf("the leader was called: %v", calls)
	}
	if calls := follower.called(); !slices.Equal(calls, []string{"Apply"}) {
		t.Fatalf("the follower's backend served %v", calls)
	}
}

// TestApplyOnLeader: the command is decoded to its request type, the
// backend's result comes back as JSON with the applied index.
func TestApplyOnLeader(t *testing.T) {
	var gotType command.Type
	var gotReq any
	b := &fakeBackend{applied: 31, applyFn: func(t command.Type, req any) (any, error) {
		gotType, gotReq = t, req
		if t == command.ServerRemove {
			return nil, nil
		}
		team := req.(*command.TeamUpsertRequest).Team
		team.Name += " (stored)"
		return &team, nil
	}}
	c := client(t, serveLeader(t, b))
	ctx := testCtx(t)

	payload, _ := json.Marshal(command.TeamUpsertRequest{Team: structs.Team{ID: "t1", Name: "one"}})
	r, err := c.Apply(ctx, &serverpb.ApplyRequest{Type: uint32(command.TeamUpsert), Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if gotType != command.TeamUpsert || gotReq.(*command.TeamUpsertRequest).Team.ID != "t1" {
		t.Fatalf("backend got %v %#v", gotType, gotReq)
	}
	var team structs.Team
	if err := json.Unmarshal(r.GetResult(), &team); err != nil || team.Name != "one (stored)" || r.GetIndex() != 31 {
		t.Fatalf("reply %s index %d (%v)", r.GetResult(), r.GetIndex(), err)
	}

	// A command without a result: no result bytes, still the index.
	payload, _ = json.Marshal(command.ServerRemoveRequest{ID: "s9"})
	r, err = c.Apply(ctx, &serverpb.ApplyRequest{Type: uint32(command.ServerRemove), Payload: payload})
	if err != nil || len(r.GetResult()) != 0 || r.GetIndex() != 31 {
		t.Fatalf("ServerRemove: %v, %v", r, err)
	}
}

// TestApplyRefusesWhatItCannotDecode: an unknown command type is
// FAILED_PRECONDITION (the server must be upgraded), a payload that does
// not decode INVALID_ARGUMENT; neither reaches the backend.
func TestApplyRefusesWhatItCannotDecode(t *testing.T) {
	b := &fakeBackend{applyFn: func(command.Type, any) (any, error) { return nil, nil }}
	c := client(t, serveLeader(t, b))
	ctx := testCtx(t)
	unknown := uint32(1) // the first type this version does not know
	for command.Type(unknown).Known() {
		unknown++
	}
	for _, typ := range []uint32{0, unknown, 99, 127, 128 | unknown, 1000} {
		_, err := c.Apply(ctx, &serverpb.ApplyRequest{Type: typ, Payload: []byte(`{}`)})
		if err = forward.FromStatus(err); apperr.CodeOf(err) != apperr.FailedPrecondition {
			t.Errorf("type %d: %v, want FAILED_PRECONDITION", typ, err)
		}
	}
	_, err := c.Apply(ctx, &serverpb.ApplyRequest{Type: uint32(command.TeamUpsert), Payload: []byte(`{"Team": 7}`)})
	if err = forward.FromStatus(err); apperr.CodeOf(err) != apperr.InvalidArgument {
		t.Errorf("bad payload: %v, want INVALID_ARGUMENT", err)
	}
	if calls := b.called(); len(calls) != 0 {
		t.Fatalf("the backend was called: %v", calls)
	}
}

// TestRequestsAreChecked: incomplete Join and RemovePeer requests are
// INVALID_ARGUMENT, and a server without federation refuses federation's
// calls with FAILED_PRECONDITION.
func TestRequestsAreChecked(t *testing.T) {
	b := &fakeBackend{}
	c := client(t, serveLeader(t, b))
	ctx := testCtx(t)
	code := func(err error) apperr.Code { return apperr.CodeOf(forward.FromStatus(err)) }
	joins := []*serverpb.JoinRequest{
		{RaftAddr: "a", RpcAddr: "b"},
		{NodeId: "s1", RpcAddr: "b"},
		{NodeId: "s1", RaftAddr: "a"},
	}
	for _, j := range joins {
		if _, err := c.Join(ctx, j); code(err) != apperr.InvalidArgument {
			t.Errorf("Join %v: %v, want INVALID_ARGUMENT", j, err)
		}
	}
	if _, err := c.RemovePeer(ctx, &serverpb.RemovePeerRequest{}); code(err) != apperr.InvalidArgument {
		t.Errorf("RemovePeer without id: %v", err)
	}
	if _, err := c.ListGlobal(ctx, &serverpb.ListGlobalRequest{}); code(err) != apperr.FailedPrecondition {
		t.Errorf("ListGlobal: %v", err)
	}
	if _, err := c.ApplyGlobal(ctx, &serverpb.ApplyGlobalRequest{}); code(err) != apperr.FailedPrecondition {
		t.Errorf("ApplyGlobal: %v", err)
	}
	if _, err := c.GetSandbox(ctx, &serverpb.SandboxRequest{}); code(err) != apperr.FailedPrecondition {
		t.Errorf("GetSandbox: %v", err)
	}
	if _, err := c.SandboxOp(ctx, &serverpb.SandboxRequest{}); code(err) != apperr.FailedPrecondition {
		t.Errorf("SandboxOp: %v", err)
	}
	if calls := b.called(); len(calls) != 0 {
		t.Fatalf("the backend was called: %v", calls)
	}
}
