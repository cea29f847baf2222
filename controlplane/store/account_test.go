package store

import (
	"bytes"
	"testing"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

func TestAccountUpdate(t *testing.T) {
	tf := newTestFSM(t)
	tf.mustDo(t, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_a", Name: "a"}})
	credit := &billing.Credit{ID: "c1", Kind: billing.EntryGrant, Micros: 5_000_000, At: t0}
	for range 2 { // a retried credit is held once
		a := tf.mustDo(t, command.AccountUpdate, &command.AccountUpdateRequest{TeamID: "team_a",
			Change: billing.AccountChange{Credit: credit}, At: t0}).(*billing.Account)
		if len(a.Credits) != 1 {
			t.Fatalf("credits after adding c1: %+v", a.Credits)
		}
	}
	tf.mustDo(t, command.AccountUpdate, &command.AccountUpdateRequest{TeamID: "team_a",
		Change: billing.AccountChange{Limits: &billing.Limits{SoftMicros: 1_000_000}}, At: t0})
	got := tf.state.Snapshot().AccountByTeam("team_a")
	if got == nil || got.Limits == nil || got.Limits.SoftMicros != 1_000_000 || len(got.Credits) != 1 {
		t.Fatalf("account: %+v", got)
	}

	// Bad input changes nothing.
	before := tf.dump(t)
	wantCode(t, tf.do(t, command.AccountUpdate, &command.AccountUpdateRequest{TeamID: "team_nope",
		Change: billing.AccountChange{ClearLimits: true}, At: t0}), apperr.InvalidArgument, "does not exist")
	neg := billing.DefaultPlan()
	neg.GiBSecondNanos = -5
	wantCode(t, tf.do(t, command.AccountUpdate, &command.AccountUpdateRequest{TeamID: "team_a",
		Change: billing.AccountChange{Plan: &neg}, At: t0}), apperr.InvalidArgument, "GiBSecondNanos")
	if after := tf.dump(t); !bytes.Equal(before, after) {
		t.Fatalf("a refused change altered the state:\n%s\n%s", before, after)
	}

	// A snapshot carries accounts.
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Restore(bytes.NewReader(tf.dump(t))); err != nil {
		t.Fatal(err)
	}
	if a := st.Snapshot().AccountByTeam("team_a"); a == nil || len(a.Credits) != 1 || a.Limits == nil {
		t.Fatalf("restored account: %+v", a)
	}
}
