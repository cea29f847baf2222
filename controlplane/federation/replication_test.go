package federation

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// globalFixture is a global state: two teams, a live key and a revoked
// one.
func globalFixture() ([]structs.Team, []structs.APIKey) {
	teams := []structs.Team{{ID: "t1", Name: "one", CreatedAt: created()}, {ID: "t2", Name: "two", CreatedAt: created()}}
	keys := []structs.APIKey{
		{ID: "k1", TeamID: "t1", Name: "ci", Prefix: "ci_live_a", Hash: hash('a'), CreatedAt: created()},
		{ID: "k2", TeamID: "t2", Name: "old", Prefix: "ci_live_b", Hash: hash('b'), CreatedAt: created(), RevokedAt: created().Add(time.Hour)},
	}
	return teams, keys
}

// decodeGlobal decodes a ListGlobal reply.
func decodeGlobal(t *testing.T, r *serverpb.ListGlobalReply) ([]structs.Team, []structs.APIKey) {
	t.Helper()
	var teams []structs.Team
	var keys []structs.APIKey
	if err := json.Unmarshal(r.GetTeams(), &teams); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.GetApiKeys(), &keys); err != nil {
		t.Fatal(err)
	}
	return teams, keys
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	slices.Sort(out)
	return out
}

func teamIDs(ts []structs.Team) []string { return ids(ts, func(t structs.Team) string { return t.ID }) }
func keyIDs(ks []structs.APIKey) []string {
	return ids(ks, func(k structs.APIKey) string { return k.ID })
}

// caller is a region that agrees that eu is authoritative.
func caller() *serverpb.Caller { return &serverpb.Caller{Region: "us", AuthoritativeRegion: "eu"} }

// TestListGlobalAnswersAtOnceWhenPastSince: the state is already past
// since_index: the answer comes at once with every team and every key,
// revoked ones included.
func TestListGlobalAnswersAtOnceWhenPastSince(t *testing.T) {
	local := newLocal(t, "")
	local.seed(globalFixture())
	f := New(Config{Region: "eu", Authoritative: "eu", Local: local})
	start := time.Now()
	r, err := f.ListGlobal(testCtx(t), &serverpb.ListGlobalRequest{Caller: caller(), SinceIndex: 0, WaitMs: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answered after %v, the state was already past since", d)
	}
	teams, keys := decodeGlobal(t, r)
	if r.GetIndex() != 1 || !slices.Equal(teamIDs(teams), []string{"t1", "t2"}) || !slices.Equal(keyIDs(keys), []string{"k1", "k2"}) {
		t.Fatalf("index %d teams %v keys %v", r.GetIndex(), teamIDs(teams), keyIDs(keys))
	}
	for _, k := range keys {
		if k.ID == "k2" && k.RevokedAt.IsZero() {
			t.Fatal("the revoked key is listed as live")
		}
	}
}

// TestListGlobalWaitsUpToWaitMs: nothing new since since_index: the
// answer comes when wait_ms ends, with the state as it is.
func TestListGlobalWaitsUpToWaitMs(t *testing.T) {
	local := newLocal(t, "")
	local.seed(globalFixture())
	f := New(Config{Region: "eu", Authoritative: "eu", Local: local})
	start := time.Now()
	r, err := f.ListGlobal(testCtx(t), &serverpb.ListGlobalRequest{Caller: caller(), SinceIndex: 1, WaitMs: 300})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("answered after %v, want about 300ms", d)
	}
	if teams, _ := decodeGlobal(t, r); r.GetIndex() != 1 || len(teams) != 2 {
		t.Fatalf("index %d, %d teams", r.GetIndex(), len(teams))
	}
}

// TestListGlobalReturnsWhenAWriteLands: a long poll returns as soon as
// the state passes since_index, with the new write.
func TestListGlobalReturnsWhenAWriteLands(t *testing.T) {
	local := newLocal(t, "")
	local.seed(globalFixture())
	f := New(Config{Region: "eu", Authoritative: "eu", Local: local})
	type answer struct {
		r   *serverpb.ListGlobalReply
		err error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		r, err := f.ListGlobal(testCtx(t), &serverpb.ListGlobalRequest{Caller: caller(), SinceIndex: 1, WaitMs: 20_000})
		done <- answer{r, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("answered before any write: %v, %v", a.r, a.err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := local.Apply(testCtx(t), command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t3"}}); err != nil {
		t.Fatal(err)
	}
	var a answer
	select {
	case a = <-done:
	case <-time.After(waitTimeout):
		t.Fatal("no answer after the write")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("answered after %v: it waited for the wait to end", d)
	}
	if teams, _ := decodeGlobal(t, a.r); a.r.GetIndex() != 2 || !slices.Contains(teamIDs(teams), "t3") {
		t.Fatalf("index %d teams %v", a.r.GetIndex(), teamIDs(teams))
	}
}

// TestListGlobalRefusals: a caller that disagrees, a region that is not
// authoritative, and a caller that gives up.
func TestListGlobalRefusals(t *testing.T) {
	local := newLocal(t, "")
	eu := New(Config{Region: "eu", Authoritative: "eu", Local: local})
	_, err := eu.ListGlobal(testCtx(t), &serverpb.ListGlobalRequest{Caller: &serverpb.Caller{Region: "ap", AuthoritativeRegion: "ap"}})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("disagreeing caller: %v", err)
	}
	us := New(Config{Region: "us", Authoritative: "eu", Local: local})
	_, err = us.ListGlobal(testCtx(t), &serverpb.ListGlobalRequest{Caller: &serverpb.Caller{Region: "ap", AuthoritativeRegion: "eu"}})
	if apperr.CodeOf(err) != apperr.FailedPrecondition {
		t.Errorf("not authoritative: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err = eu.ListGlobal(ctx, &serverpb.ListGlobalRequest{Caller: caller(), SinceIndex: 5, WaitMs: 20_000})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
}

// TestReplicationAppliesOnlyWhatDiffers: of a ListGlobal reply, only the
// teams and keys that differ from this region's are committed, teams
// before keys; a revocation is a change like any other.
func TestReplicationAppliesOnlyWhatDiffers(t *testing.T) {
	local := newLocal(t, "")
	teams, keys := globalFixture()
	keys[1].RevokedAt = time.Time{} // k2 is still live here
	teams[0].CreatedAt = time.Now() // compared by encoding, not the monotonic clock
	local.seed(teams, keys)
	f := New(Config{Region: "us", Authoritative: "eu", Local: local})

	upTeams, upKeys := globalFixture()
	upTeams[0].CreatedAt = teams[0].CreatedAt
	upTeams[1].Name = "two, renamed"
	upTeams = append(upTeams, structs.Team{ID: "t3", Name: "three", CreatedAt: created()})
	upKeys = append([]structs.APIKey{{ID: "k3", TeamID: "t3", Hash: hash('c'), CreatedAt: created()}}, upKeys...) // a key listed before its team
	tb, _ := json.Marshal(upTeams)
	kb, _ := json.Marshal(upKeys)
	reply := &serverpb.ListGlobalReply{Index: 9, Teams: tb, ApiKeys: kb}

	changes, err := f.apply(testCtx(t), reply)
	if err != nil {
		t.Fatal(err)
	}
	want := []applied{{command.TeamUpsert, "t2"}, {command.TeamUpsert, "t3"}, {command.APIKeyUpsert, "k3"}, {command.APIKeyUpsert, "k2"}}
	if got := local.recorded(); changes != 4 || !slices.Equal(got, want) {
		t.Fatalf("%d changes: %v, want %v", changes, got, want)
	}
	snap := local.State().Snapshot()
	if k := snap.APIKeyByID("k2"); k == nil || k.RevokedAt.IsZero() {
		t.Fatalf("the revocation was not replicated: %+v", k)
	}
	if tm := snap.TeamByID("t2"); tm == nil || tm.Name != "two, renamed" {
		t.Fatalf("t2 = %+v", tm)
	}

	// Once in step, the same reply changes nothing.
	changes, err = f.apply(testCtx(t), reply)
	if err != nil || changes != 0 || len(local.recorded()) != 4 {
		t.Fatalf("second round: %d changes, %v, %d applies", changes, err, len(local.recorded()))
	}
}

// TestReplicationStopsAtTheFirstFailure: a team that cannot be committed
// stops the round before any key.
func TestReplicationStopsAtTheFirstFailure(t *testing.T) {
	local := newLocal(t, "")
	local.setFail(func(_ command.Type, id string) error {
		if id == "t2" {
			return apperr.New(apperr.Unavailable, "no leader")
		}
		return nil
	})
	f := New(Config{Region: "us", Authoritative: "eu", Local: local})
	teams, keys := globalFixture()
	tb, _ := json.Marshal(teams)
	kb, _ := json.Marshal(keys)
	changes, err := f.apply(testCtx(t), &serverpb.ListGlobalReply{Index: 3, Teams: tb, ApiKeys: kb})
	if err == nil || !strings.Contains(err.Error(), "t2") || changes != 1 {
		t.Fatalf("%d changes, %v", changes, err)
	}
	if got := local.recorded(); !slices.Equal(got, []applied{{command.TeamUpsert, "t1"}}) {
		t.Fatalf("applied %v", got)
	}
	if _, err := f.apply(testCtx(t), &serverpb.ListGlobalReply{Teams: []byte("not json")}); err == nil {
		t.Fatal("a reply that does not decode was applied")
	}
}

// TestReplicateOnceOverTheWire: a region long-polls the authoritative
// one over gRPC, copies its state, records how far it got, and then
// picks up a revocation.
func TestReplicateOnceOverTheWire(t *testing.T) {
	eu := startServer(t, "eu", "eu")
	eu.local.seed(globalFixture())
	us := startServer(t, "us", "eu")
	if _, ok := us.fed.Lag(); ok {
		t.Fatal("a lag before any replication")
	}
	if err := us.fed.replicateOnce(testCtx(t)); err == nil || !strings.Contains(err.Error(), "eu") {
		t.Fatalf("no server of eu known: %v", err)
	}
	us.probe(t, eu.addr)

	if err := us.fed.replicateOnce(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	snap := us.local.State().Snapshot()
	if len(snap.Teams()) != 2 || snap.APIKeyByID("k1") == nil || snap.APIKeyByID("k2") == nil {
		t.Fatalf("replicated %d teams", len(snap.Teams()))
	}
	if lag, ok := us.fed.Lag(); !ok || lag > 5*time.Second {
		t.Fatalf("lag %v, %v", lag, ok)
	}
	us.fed.mu.Lock()
	repl := us.fed.repl
	us.fed.mu.Unlock()
	if repl.index != 1 || repl.changes != 4 {
		t.Fatalf("replication state %+v", repl)
	}

	// Revoke k1 in eu: the next poll, waiting since index 1, brings it.
	_, keys := globalFixture()
	k1 := keys[0]
	k1.RevokedAt = created().Add(2 * time.Hour)
	if _, err := eu.local.Apply(testCtx(t), command.APIKeyUpsert, command.APIKeyUpsertRequest{Key: k1}); err != nil {
		t.Fatal(err)
	}
	before := len(us.local.recorded())
	if err := us.fed.replicateOnce(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if k := us.local.State().Snapshot().APIKeyByID("k1"); k == nil || !k.RevokedAt.Equal(k1.RevokedAt) {
		t.Fatalf("k1 here: %+v", k)
	}
	if got := us.local.recorded()[before:]; !slices.Equal(got, []applied{{command.APIKeyUpsert, "k1"}}) {
		t.Fatalf("second round applied %v", got)
	}
	if _, ok := eu.fed.Lag(); ok {
		t.Fatal("the authoritative region reports a replication lag")
	}
}

// TestRunReplicatesWhileLeading: Run probes the configured servers and,
// on the leader of a region that is not authoritative, keeps the global
// state in step; a follower does not replicate.
func TestRunReplicatesWhileLeading(t *testing.T) {
	eu := startServer(t, "eu", "eu")
	eu.local.seed(globalFixture())
	us := startServer(t, "us", "eu")
	us.setPeers(eu.addr)
	ap := startServer(t, "ap", "eu")
	ap.setPeers(eu.addr)
	ap.local.mu.Lock()
	ap.local.leader = false
	ap.local.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	for _, s := range []*server{eu, us, ap} {
		go func() { s.fed.Run(ctx); done <- struct{}{} }()
	}
	defer func() {
		cancel()
		for range 3 {
			<-done
		}
	}()

	waitFor(t, "us to replicate the teams", func() bool { return len(us.local.State().Snapshot().Teams()) == 2 })
	_, keys := globalFixture()
	k1 := keys[0]
	k1.RevokedAt = created().Add(time.Hour)
	if _, err := eu.local.Apply(testCtx(t), command.APIKeyUpsert, command.APIKeyUpsertRequest{Key: k1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "us to replicate the revocation", func() bool {
		k := us.local.State().Snapshot().APIKeyByID("k1")
		return k != nil && !k.RevokedAt.IsZero()
	})
	// eu learned us from its polls and probes it back.
	waitFor(t, "eu to probe us", func() bool {
		p, ok := eu.fed.peer(us.addr)
		return ok && !p.lastOK.IsZero()
	})
	if p, ok := ap.fed.peer(eu.addr); !ok || p.lastOK.IsZero() {
		t.Fatalf("the follower did not probe eu: %+v", p)
	}
	if got := ap.local.recorded(); len(got) != 0 {
		t.Fatalf("a follower replicated: %v", got)
	}
}

// TestReplicationCopiesAccounts: billing accounts come with teams and
// keys, after their team, and only when they differ.
func TestReplicationCopiesAccounts(t *testing.T) {
	local := newLocal(t, "")
	teams, keys := globalFixture()
	local.seed(teams, keys)
	f := New(Config{Region: "us", Authoritative: "eu", Local: local})
	plan := billing.DefaultPlan()
	plan.ID = "pro"
	accounts := []billing.Account{{TeamID: "t1", Plan: &plan, Limits: &billing.Limits{SoftMicros: 5, HardMicros: 0},
		Credits: []billing.Credit{{ID: "c1", Kind: billing.EntryGrant, Micros: 7, At: created()}}, UpdatedAt: created()}}
	tb, _ := json.Marshal(teams)
	kb, _ := json.Marshal(keys)
	ab, _ := json.Marshal(accounts)
	reply := &serverpb.ListGlobalReply{Index: 4, Teams: tb, ApiKeys: kb, Accounts: ab}
	changes, err := f.apply(testCtx(t), reply)
	if err != nil || changes != 1 {
		t.Fatalf("%d changes, %v", changes, err)
	}
	if got := local.recorded(); !slices.Equal(got, []applied{{command.AccountUpdate, "t1"}}) {
		t.Fatalf("applied %v", got)
	}
	a := local.State().Snapshot().AccountByTeam("t1")
	if a == nil || a.Plan == nil || a.Plan.ID != "pro" || len(a.Credits) != 1 || a.Limits.SoftMicros != 5 {
		t.Fatalf("copied account %+v", a)
	}
	if changes, err := f.apply(testCtx(t), reply); err != nil || changes != 0 {
		t.Fatalf("second round: %d changes, %v", changes, err)
	}
}
