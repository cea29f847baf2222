package federation

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// TestCheckCaller: a caller that names another authoritative region is
// refused (FAILED_PRECONDITION wrapping ErrConflict); the address of a
// caller of another region is learned either way, so that it is probed.
func TestCheckCaller(t *testing.T) {
	f := New(Config{Region: "eu", Authoritative: "eu", Local: newLocal(t, "")})
	cases := []struct {
		name     string
		caller   *serverpb.Caller
		conflict bool
		learned  string // the region recorded for the caller's address; "" = not recorded
	}{
		{"agrees", &serverpb.Caller{Region: "us", AuthoritativeRegion: "eu", RpcAddr: "10.0.0.1:1"}, false, "us"},
		{"conflict", &serverpb.Caller{Region: "ap", AuthoritativeRegion: "ap", RpcAddr: "10.0.0.2:1"}, true, "ap"},
		{"no address", &serverpb.Caller{Region: "sa", AuthoritativeRegion: "eu"}, false, ""},
		{"own region", &serverpb.Caller{Region: "eu", AuthoritativeRegion: "eu", RpcAddr: "10.0.0.3:1"}, false, ""},
		{"nil caller", nil, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := f.checkCaller(c.caller)
			if c.conflict {
				if !errors.Is(err, ErrConflict) || apperr.CodeOf(err) != apperr.FailedPrecondition {
					t.Fatalf("got %v (code %q), want FAILED_PRECONDITION wrapping ErrConflict", err, apperr.CodeOf(err))
				}
				if !strings.Contains(err.Error(), `"eu"`) {
					t.Errorf("the refusal does not name this region's choice: %v", err)
				}
			} else if err != nil {
				t.Fatalf("refused: %v", err)
			}
			p, ok := f.peer(c.caller.GetRpcAddr())
			switch {
			case c.learned == "" && ok:
				t.Errorf("address %q recorded", c.caller.GetRpcAddr())
			case c.learned != "" && (!ok || p.region != c.learned):
				t.Errorf("address %q: recorded %v as %+v, want region %q", c.caller.GetRpcAddr(), ok, p, c.learned)
			}
		})
	}
	// A known server keeps what its probes saw.
	seen := time.Now().Add(-time.Second)
	f.inject(peerState{addr: "10.0.0.9:1", region: "us", leader: "raft-us", lastOK: seen})
	if err := f.checkCaller(&serverpb.Caller{Region: "us", AuthoritativeRegion: "eu", RpcAddr: "10.0.0.9:1"}); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.peer("10.0.0.9:1"); p.leader != "raft-us" || !p.lastOK.Equal(seen) {
		t.Errorf("a call replaced what the probes saw: %+v", p)
	}
	// learned lists what callers taught and Peers did not list.
	if got := f.learned([]string{"10.0.0.1:1"}); !slices.Equal(sorted(got), []string{"10.0.0.2:1", "10.0.0.9:1"}) {
		t.Errorf("learned = %v", got)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestApplyInTheAuthoritativeRegionIsLocal: no other region is asked.
func TestApplyInTheAuthoritativeRegionIsLocal(t *testing.T) {
	dials := &countingDialer{}
	local := newLocal(t, "")
	f := New(Config{Region: "eu", Authoritative: "eu", Local: local, Dial: dials})
	f.inject(peerState{addr: "10.0.0.1:1", region: "us", lastOK: time.Now()})
	res, err := f.Apply(testCtx(t), command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t1", Name: "one"}})
	if err != nil {
		t.Fatal(err)
	}
	if team, ok := res.(*structs.Team); !ok || team.ID != "t1" {
		t.Fatalf("result %#v", res)
	}
	if got := local.recorded(); !slices.Equal(got, []applied{{command.TeamUpsert, "t1"}}) {
		t.Fatalf("local applies %v", got)
	}
	if n := dials.n.Load(); n != 0 {
		t.Fatalf("dialled %d times", n)
	}
}

// countingDialer counts dials and gives no connection.
type countingDialer struct{ n atomic.Int32 }

func (d *countingDialer) Conn(string) (grpc.ClientConnInterface, error) {
	d.n.Add(1)
	return nil, errors.New("countingDialer: no connections here")
}

// TestApplyGoesToTheAuthoritativeRegion: another region's global write
// commits in the authoritative region through ApplyGlobal, and its result
// comes back decoded; the authoritative region learns the caller.
func TestApplyGoesToTheAuthoritativeRegion(t *testing.T) {
	eu := startServer(t, "eu", "eu")
	us := startServer(t, "us", "eu")
	us.probe(t, eu.addr)
	ctx := testCtx(t)

	res, err := us.fed.Apply(ctx, command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t1", Name: "one"}})
	if err != nil {
		t.Fatal(err)
	}
	if team, ok := res.(*structs.Team); !ok || team.ID != "t1" || team.Name != "one" {
		t.Fatalf("team result %#v", res)
	}
	res, err = us.fed.Apply(ctx, command.APIKeyUpsert, command.APIKeyUpsertRequest{Key: structs.APIKey{ID: "k1", TeamID: "t1", Hash: hash('a')}})
	if err != nil {
		t.Fatal(err)
	}
	if key, ok := res.(*structs.APIKey); !ok || key.ID != "k1" || key.TeamID != "t1" {
		t.Fatalf("key result %#v", res)
	}
	want := []applied{{command.TeamUpsert, "t1"}, {command.APIKeyUpsert, "k1"}}
	if got := eu.local.recorded(); !slices.Equal(got, want) {
		t.Errorf("the authoritative region applied %v, want %v", got, want)
	}
	if got := us.local.recorded(); len(got) != 0 {
		t.Errorf("the other region applied %v itself", got)
	}
	if p, ok := eu.fed.peer(us.addr); !ok || p.region != "us" {
		t.Errorf("the authoritative region did not learn its caller: %+v", p)
	}
}

// TestApplyWhenTheAuthoritativeRegionCannotBeReached: UNAVAILABLE, naming
// the region, whether no server of it is known or none answers.
func TestApplyWhenTheAuthoritativeRegionCannotBeReached(t *testing.T) {
	us := startServer(t, "us", "eu")
	ctx := testCtx(t)
	req := command.TeamUpsertRequest{Team: structs.Team{ID: "t1"}}

	_, err := us.fed.Apply(ctx, command.TeamUpsert, req)
	if apperr.CodeOf(err) != apperr.Unavailable || !strings.Contains(err.Error(), "eu") || !strings.Contains(err.Error(), "no server of it is known") {
		t.Fatalf("no server known: %v", err)
	}

	us.fed.inject(peerState{addr: deadAddr(t), region: "eu", claims: "eu", lastOK: time.Now()})
	us.fed.inject(peerState{addr: deadAddr(t), region: "eu", claims: "eu", lastOK: time.Now().Add(-time.Second)})
	_, err = us.fed.Apply(ctx, command.TeamUpsert, req)
	if apperr.CodeOf(err) != apperr.Unavailable || !strings.Contains(err.Error(), "authoritative region eu") {
		t.Fatalf("no server answers: %v", err)
	}
	if got := us.local.recorded(); len(got) != 0 {
		t.Fatalf("applied locally: %v", got)
	}
}

// TestApplyTriesTheNextServerOnlyWhenUnavailable: the most recently
// reached server of the authoritative region is asked first; an
// UNAVAILABLE answer moves on to the next, any other answer is returned
// as is.
func TestApplyTriesTheNextServerOnlyWhenUnavailable(t *testing.T) {
	eu1 := startServer(t, "eu", "eu")
	eu2 := startServer(t, "eu", "eu")
	us := startServer(t, "us", "eu")
	us.fed.inject(peerState{addr: eu1.addr, region: "eu", claims: "eu", lastOK: time.Now()})
	us.fed.inject(peerState{addr: eu2.addr, region: "eu", claims: "eu", lastOK: time.Now().Add(-time.Second)})
	if got := us.fed.serversOf("eu"); !slices.Equal(got, []string{eu1.addr, eu2.addr}) {
		t.Fatalf("serversOf = %v, want the most recently reached first", got)
	}
	ctx := testCtx(t)

	eu1.local.setFail(func(command.Type, string) error { return apperr.New(apperr.Unavailable, "eu1: no leader") })
	if _, err := us.fed.Apply(ctx, command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t1"}}); err != nil {
		t.Fatalf("eu1 unavailable: %v", err)
	}
	if got := eu2.local.recorded(); !slices.Equal(got, []applied{{command.TeamUpsert, "t1"}}) {
		t.Fatalf("eu2 applied %v", got)
	}

	eu1.local.setFail(func(command.Type, string) error { return apperr.New(apperr.InvalidArgument, "team t2: bad name") })
	_, err := us.fed.Apply(ctx, command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t2"}})
	if apperr.CodeOf(err) != apperr.InvalidArgument || err.Error() != "team t2: bad name" {
		t.Fatalf("eu1 refuses: %v, want its INVALID_ARGUMENT as is", err)
	}
	if got := eu2.local.recorded(); len(got) != 1 {
		t.Fatalf("eu2 was asked after eu1 answered: %v", got)
	}
}

// TestApplyIsRefusedByARegionThatDisagrees: a server of the region this
// one holds authoritative, that itself holds another region
// authoritative, refuses the write (FAILED_PRECONDITION); the refusal is
// an answer, returned as is, not a reason to try elsewhere.
func TestApplyIsRefusedByARegionThatDisagrees(t *testing.T) {
	eu := startServer(t, "eu", "ap") // misconfigured: names ap
	other := startServer(t, "eu", "eu")
	us := startServer(t, "us", "eu")
	us.fed.inject(peerState{addr: eu.addr, region: "eu", claims: "eu", lastOK: time.Now()})
	us.fed.inject(peerState{addr: other.addr, region: "eu", claims: "eu", lastOK: time.Now().Add(-time.Second)})
	_, err := us.fed.Apply(testCtx(t), command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t1"}})
	if apperr.CodeOf(err) != apperr.FailedPrecondition || !strings.Contains(err.Error(), `holds "eu" authoritative`) {
		t.Fatalf("got %v, want the FAILED_PRECONDITION of the disagreeing server", err)
	}
	if got, other := eu.local.recorded(), other.local.recorded(); len(got)+len(other) != 0 {
		t.Fatalf("applied %v and %v", got, other)
	}
}

// TestApplyGlobalChecksTheRequest: only the authoritative region commits,
// only global commands, only payloads that decode.
func TestApplyGlobalChecksTheRequest(t *testing.T) {
	eu := New(Config{Region: "eu", Authoritative: "eu", Local: newLocal(t, "")})
	us := New(Config{Region: "us", Authoritative: "eu", Local: newLocal(t, "")})
	caller := &serverpb.Caller{Region: "ap", AuthoritativeRegion: "eu"}
	team, _ := json.Marshal(command.TeamUpsertRequest{Team: structs.Team{ID: "t1"}})
	sandbox, _ := json.Marshal(command.SandboxCreateRequest{Sandbox: structs.Sandbox{ID: "sb1"}})
	cases := []struct {
		name string
		f    *Federation
		req  *serverpb.ApplyGlobalRequest
		code apperr.Code
	}{
		{"not authoritative", us, &serverpb.ApplyGlobalRequest{Caller: caller, Type: uint32(command.TeamUpsert), Payload: team}, apperr.FailedPrecondition},
		{"not global", eu, &serverpb.ApplyGlobalRequest{Caller: caller, Type: uint32(command.SandboxCreate), Payload: sandbox}, apperr.InvalidArgument},
		{"unknown type", eu, &serverpb.ApplyGlobalRequest{Caller: caller, Type: 99, Payload: team}, apperr.InvalidArgument},
		{"bad payload", eu, &serverpb.ApplyGlobalRequest{Caller: caller, Type: uint32(command.TeamUpsert), Payload: []byte("{")}, apperr.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.f.ApplyGlobal(testCtx(t), c.req)
			if apperr.CodeOf(err) != c.code {
				t.Fatalf("got %v, want %s", err, c.code)
			}
			if got := c.f.cfg.Local.(*fakeLocal).recorded(); len(got) != 0 {
				t.Fatalf("applied %v", got)
			}
		})
	}
	r, err := eu.ApplyGlobal(testCtx(t), &serverpb.ApplyGlobalRequest{Caller: caller, Type: uint32(command.TeamUpsert), Payload: team})
	var got structs.Team
	if err != nil || json.Unmarshal(r.GetResult(), &got) != nil || got.ID != "t1" {
		t.Fatalf("a good request: %v, %v", r, err)
	}
}
