package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// Run probes the federated servers and, while this server leads its
// region, reports the region's usage and, in a region that is not
// authoritative, replicates the global state; until ctx ends.
func (f *Federation) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() { defer wg.Done(); f.probeLoop(ctx) }()
	go func() { defer wg.Done(); f.reportLoop(ctx) }()
	if f.IsAuthoritative() {
		return
	}
	for ctx.Err() == nil {
		if !f.cfg.Local.IsLeader() {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if err := f.replicateOnce(ctx); err != nil {
			f.log.Warn("replication of the global state failed; retrying", "event", "replication_failed", "error", err)
			sleep(ctx, f.cfg.ProbeInterval)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// probeLoop asks every federated server for its status once a second.
func (f *Federation) probeLoop(ctx context.Context) {
	for ctx.Err() == nil {
		addrs, err := f.cfg.Peers(ctx)
		if err != nil {
			f.log.Warn("finding federated servers failed", "error", err)
		}
		addrs = append(addrs, f.learned(addrs)...)
		var wg sync.WaitGroup
		for _, addr := range addrs {
			wg.Add(1)
			go func() { defer wg.Done(); f.probe(ctx, addr) }()
		}
		wg.Wait()
		sleep(ctx, f.cfg.ProbeInterval)
	}
}

func (f *Federation) probe(ctx context.Context, addr string) {
	conn, err := f.cfg.Dial.Conn(addr)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	st, err := serverpb.NewServerClient(conn).Status(pctx, &serverpb.StatusRequest{Caller: f.caller()})
	rtt := time.Since(start)
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.servers[addr]
	if p == nil {
		p = &peerState{addr: addr}
		f.servers[addr] = p
	}
	if err != nil {
		return
	}
	if st.GetRegion() == f.cfg.Region {
		delete(f.servers, addr) // one of ours, listed by mistake
		return
	}
	p.region, p.leader, p.claims, p.lastOK = st.GetRegion(), st.GetLeaderAddr(), st.GetAuthoritativeRegion(), time.Now()
	p.rtts = append(p.rtts, rtt)
	if len(p.rtts) > rttWindow {
		p.rtts = p.rtts[1:]
	}
	f.heard(p.region, addr, st, rtt, p.lastOK)
	refused := p.claims != f.cfg.Authoritative
	if refused && (!p.refused || time.Since(p.refusedAt) > time.Minute) {
		f.log.Error("refusing to federate with a region that names another authoritative region", "event", "federation_conflict",
			"peer", addr, "peer_region", p.region, "peer_authoritative", p.claims, "authoritative", f.cfg.Authoritative)
		p.refusedAt = time.Now()
	}
	p.refused = refused
}

// replicateOnce long-polls the authoritative region once and commits what
// differs.
func (f *Federation) replicateOnce(ctx context.Context) error {
	servers := f.serversOf(f.cfg.Authoritative)
	if len(servers) == 0 {
		return fmt.Errorf("no server of the authoritative region %s has answered yet", f.cfg.Authoritative)
	}
	f.mu.Lock()
	since := f.repl.index
	f.mu.Unlock()
	var lastErr error
	for _, addr := range servers {
		conn, err := f.cfg.Dial.Conn(addr)
		if err != nil {
			lastErr = err
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, f.cfg.PollWait+probeTimeout)
		reply, err := serverpb.NewServerClient(conn).ListGlobal(pctx, &serverpb.ListGlobalRequest{
			Caller: f.caller(), SinceIndex: since, WaitMs: uint32(f.cfg.PollWait / time.Millisecond)})
		cancel()
		if err != nil {
			lastErr = forward.FromStatus(err)
			continue
		}
		changes, err := f.apply(ctx, reply)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.repl = replication{index: reply.GetIndex(), applied: time.Now(), changes: changes}
		f.mu.Unlock()
		if changes > 0 {
			f.log.Info("replicated the global state", "event", "replicated", "changes", changes, "index", reply.GetIndex())
		}
		return nil
	}
	return lastErr
}

// apply commits the teams, keys and billing accounts of a ListGlobal reply
// that differ from this region's, teams first (keys and accounts need
// their team).
func (f *Federation) apply(ctx context.Context, reply *serverpb.ListGlobalReply) (int, error) {
	var teams []structs.Team
	var keys []structs.APIKey
	if err := json.Unmarshal(reply.GetTeams(), &teams); err != nil {
		return 0, fmt.Errorf("replication: teams: %w", err)
	}
	if err := json.Unmarshal(reply.GetApiKeys(), &keys); err != nil {
		return 0, fmt.Errorf("replication: keys: %w", err)
	}
	snap := f.cfg.Local.State().Snapshot()
	changes := 0
	for _, t := range teams {
		if cur := snap.TeamByID(t.ID); cur != nil && sameJSON(*cur, t) {
			continue
		}
		if _, err := f.cfg.Local.Apply(ctx, command.TeamUpsert, command.TeamUpsertRequest{Team: t}); err != nil {
			return changes, fmt.Errorf("replicate team %s: %w", t.ID, err)
		}
		changes++
	}
	for _, k := range keys {
		if cur := snap.APIKeyByID(k.ID); cur != nil && sameJSON(*cur, k) {
			continue
		}
		if _, err := f.cfg.Local.Apply(ctx, command.APIKeyUpsert, command.APIKeyUpsertRequest{Key: k}); err != nil {
			return changes, fmt.Errorf("replicate key %s: %w", k.ID, err)
		}
		changes++
	}
	var accounts []billing.Account
	if len(reply.GetAccounts()) > 0 { // an older authoritative server sends none
		if err := json.Unmarshal(reply.GetAccounts(), &accounts); err != nil {
			return changes, fmt.Errorf("replication: accounts: %w", err)
		}
	}
	for _, a := range accounts {
		if cur := snap.AccountByTeam(a.TeamID); cur != nil && sameJSON(*cur, a) {
			continue
		}
		req := command.AccountUpdateRequest{TeamID: a.TeamID, Replace: &a, At: a.UpdatedAt}
		if _, err := f.cfg.Local.Apply(ctx, command.AccountUpdate, req); err != nil {
			return changes, fmt.Errorf("replicate the account of team %s: %w", a.TeamID, err)
		}
		changes++
	}
	return changes, nil
}

// sameJSON compares two records as the log would carry them (times
// compared by their encoding, not their monotonic clock).
func sameJSON(a, b any) bool {
	ab, errA := json.Marshal(a)
	bb, errB := json.Marshal(b)
	return errA == nil && errB == nil && reflect.DeepEqual(ab, bb)
}

// learned lists the servers that called this one and are not in known.
func (f *Federation) learned(known []string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for a := range f.servers {
		if !slices.Contains(known, a) {
			out = append(out, a)
		}
	}
	return out
}

// rttWindow is how many probes the latency is the minimum of: a probe
// slowed by a handshake, a reconnect or a busy peer does not count, as in
// TCP's minimum-RTT filter.
const rttWindow = 8

// latency is the smallest recent round trip, 0 when there is none.
func (p *peerState) latency() time.Duration {
	if len(p.rtts) == 0 {
		return 0
	}
	return slices.Min(p.rtts)
}
