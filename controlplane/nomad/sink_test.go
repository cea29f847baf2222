package nomad

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
)

func TestDrainSink(t *testing.T) {
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var got []command.NodeDrainRequest
	fail := error(nil)
	sink := DrainSink{Now: func() time.Time { return at }, Apply: func(_ context.Context, typ command.Type, req any) (any, error) {
		if typ != command.NodeDrain {
			t.Fatalf("applied %v, want NodeDrain", typ)
		}
		got = append(got, req.(command.NodeDrainRequest))
		return nil, fail
	}}
	cases := []struct {
		state    NodeState
		draining bool
		reason   string
	}{
		{NodeState{NodeID: "a", Eligible: true}, false, ""},
		{NodeState{NodeID: "a", Eligible: true, Draining: true}, true, "nomad: draining"},
		{NodeState{NodeID: "a", Eligible: false}, true, "nomad: ineligible"},
		{NodeState{NodeID: "a", Eligible: false, Draining: true, Down: true}, true, "nomad: down"},
	}
	for i, c := range cases {
		if err := sink.NodeState(context.Background(), c.state); err != nil {
			t.Fatal(err)
		}
		if r := got[i]; r.NodeID != "a" || r.Draining != c.draining || r.Reason != c.reason || !r.At.Equal(at) {
			t.Fatalf("%+v committed %+v, want draining %v reason %q", c.state, r, c.draining, c.reason)
		}
	}
	fail = apperr.New(apperr.NotFound, "node b not found")
	if err := sink.NodeState(context.Background(), NodeState{NodeID: "b", Eligible: true}); err != nil {
		t.Fatalf("an open node codeint does not know yet is nothing to record: %v", err)
	}
	if err := sink.NodeState(context.Background(), NodeState{NodeID: "b", Draining: true}); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("a drained node codeint does not know yet must be reported again (an error): %v", err)
	}
	fail = errors.New("no quorum")
	if err := sink.NodeState(context.Background(), NodeState{NodeID: "a"}); err == nil || !errors.Is(err, fail) {
		t.Fatalf("a failed commit must surface: %v", err)
	}
}
