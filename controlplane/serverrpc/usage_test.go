package serverrpc

import (
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// A batch shipped to a follower is committed on the leader, and its
// result (the node's high-water mark) comes back to the agent.
func TestShipUsageThroughAFollower(t *testing.T) {
	var got *command.UsageIngestRequest
	leader := &fakeBackend{applyFn: func(typ command.Type, req any) (any, error) {
		if typ != command.UsageIngest {
			t.Errorf("applied %v", typ)
		}
		got = req.(*command.UsageIngestRequest)
		return &command.UsageIngestResult{Seq: 2, Applied: 2}, nil
	}}
	follower := &fakeBackend{applyFn: func(command.Type, any) (any, error) {
		t.Error("the follower applied the batch itself")
		return nil, nil
	}}
	c := client(t, serveFollower(t, follower, serveLeader(t, leader)))
	now := time.Now()
	recs := []structs.UsageRecord{{NodeID: "n1", Seq: 1, SandboxID: "sb", Start: now, End: now.Add(time.Second)},
		{NodeID: "n1", Seq: 2, SandboxID: "sb", Start: now.Add(time.Second), End: now.Add(2 * time.Second)}}
	res, err := ShipUsage(testCtx(t), c, "n1", recs)
	if err != nil || res.Seq != 2 || res.Applied != 2 {
		t.Fatalf("ship = %+v, %v", res, err)
	}
	if got == nil || got.NodeID != "n1" || len(got.Records) != 2 || got.At.IsZero() {
		t.Fatalf("the leader applied %+v", got)
	}
	_, err = c.ShipUsage(testCtx(t), &serverpb.ShipUsageRequest{NodeId: "n1", Records: []byte("not json")})
	if apperr.CodeOf(forward.FromStatus(err)) != apperr.InvalidArgument {
		t.Fatalf("garbage records: %v", err)
	}
}

// An agent may ship only its own node's records.
func TestShipUsageOnlyForItsOwnNode(t *testing.T) {
	bundles := certs(t)
	cs := handshake(t, bundles["listener-r1"], bundles["agent-r1"]) // agent n1
	if err := checkShipper(withPeer(cs), "n1"); err != nil {
		t.Fatalf("n1 shipping its own usage: %v", err)
	}
	if err := checkShipper(withPeer(cs), "n2"); apperr.CodeOf(err) != apperr.PermissionDenied {
		t.Fatalf("n1 shipping n2's usage: %v, want PERMISSION_DENIED", err)
	}
	srv := handshake(t, bundles["listener-r1"], bundles["server-r1"])
	if err := checkShipper(withPeer(srv), "n2"); err != nil {
		t.Fatalf("a server forwarding a batch: %v", err)
	}
}

// A server may report only its own region's usage to the authoritative
// region, whatever its request says it is.
func TestReportUsageOnlyForItsOwnRegion(t *testing.T) {
	bundles := certs(t)
	cs := handshake(t, bundles["listener-r1"], bundles["server-r2"])
	if err := checkReporter(withPeer(cs), other); err != nil {
		t.Fatalf("a server of %s reporting its region's usage: %v", other, err)
	}
	if err := checkReporter(withPeer(cs), home); apperr.CodeOf(err) != apperr.PermissionDenied {
		t.Fatalf("a server of %s reporting %s's usage: %v, want PERMISSION_DENIED", other, home, err)
	}
	s := NewServer(nil, nil, nil)
	if _, err := s.ReportUsage(withPeer(cs), &serverpb.ReportUsageRequest{}); apperr.CodeOf(forward.FromStatus(err)) != apperr.FailedPrecondition {
		t.Fatalf("a report to a server that is not federated: %v, want FAILED_PRECONDITION", err)
	}
}
