package nodes

import (
	"context"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// Run marks silent nodes DOWN until ctx ends: every TTL/4 it commits
// NodeDown for each READY node whose latest beat is older than TTL. Call
// it on the leader only, for as long as this server leads (e.g. from a
// leadership-change hook). When it starts, every READY node gets a fresh
// TTL: beats went to the previous leader, so a failover does not mark
// everyone DOWN.
func (t *Tracker) Run(ctx context.Context) {
	t.beginTerm()
	tick := time.NewTicker(max(t.cfg.TTL/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.check(ctx)
		}
	}
}

// beginTerm restarts the TTL clock of every READY node and forgets the
// disagreements seen in an earlier term (they are seen again, from now).
func (t *Tracker) beginTerm() {
	now := t.cfg.Now()
	for _, n := range t.cfg.Store.State().Snapshot().Nodes() {
		if n.Status != structs.NodeReady {
			continue
		}
		e := t.entry(n.ID)
		e.op.Lock()
		t.mu.Lock()
		e.fresh = now
		t.mu.Unlock()
		e.unknown, e.missing = map[string]time.Time{}, map[string]time.Time{}
		e.op.Unlock()
	}
}

// check commits NodeDown for every READY node silent for more than TTL. A
// READY node the tracker has never seen starts its TTL now.
func (t *Tracker) check(ctx context.Context) {
	for _, n := range t.cfg.Store.State().Snapshot().Nodes() {
		if ctx.Err() != nil {
			return
		}
		if n.Status == structs.NodeReady {
			t.checkNode(ctx, n.ID)
		}
	}
}

func (t *Tracker) checkNode(ctx context.Context, id string) {
	e := t.entry(id)
	e.op.Lock() // a beat being handled finishes first
	defer e.op.Unlock()
	now := t.cfg.Now()
	t.mu.Lock()
	if e.fresh.IsZero() {
		e.fresh = now
	}
	silent := now.Sub(e.fresh)
	t.mu.Unlock()
	if silent <= t.cfg.TTL {
		return
	}
	if cur := t.cfg.Store.State().Snapshot().NodeByID(id); cur == nil || cur.Status != structs.NodeReady {
		return // a beat changed it before we took the lock
	}
	resp, err := t.cfg.Store.Apply(ctx, command.NodeDown, command.NodeDownRequest{NodeID: id, At: now})
	if err != nil {
		t.log.Error("mark node down", "event", "node_down_failed", "node_id", id, "error", err)
		return
	}
	var lost []string
	if res, ok := resp.(*command.NodeDownResult); ok {
		lost = res.Lost
	}
	t.log.Warn("node down", "event", "node_down", "node_id", id, "silent_for", silent, "lost", lost)
}
