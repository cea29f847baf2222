package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
)

// Run, until ctx ends, follows leadership: while this server leads it
// records itself, runs OnLeader, the node tracker and the dead-server
// cleanup; while it follows it makes sure it is recorded. Every server
// probes the others.
func (c *Cluster) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); c.probeLoop(ctx) }()

	var stopLeading context.CancelFunc
	defer func() {
		if stopLeading != nil {
			stopLeading()
		}
	}()
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	var lastRegister time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		leader := c.cfg.Store.IsLeader()
		switch {
		case leader && stopLeading == nil:
			lctx, cancel := context.WithCancel(ctx)
			stopLeading = cancel
			wg.Add(1)
			go func() { defer wg.Done(); c.lead(lctx) }()
		case !leader && stopLeading != nil:
			stopLeading()
			stopLeading = nil
			c.log.Info("lost leadership", "event", "leadership_lost")
		case !leader && time.Since(lastRegister) > registerEvery:
			lastRegister = time.Now()
			c.registerSelf(ctx)
		}
	}
}

// lead is what the leader does until it loses leadership.
func (c *Cluster) lead(ctx context.Context) {
	c.log.Info("leading the region", "event", "leadership_gained")
	// A new leader applies what earlier leaders committed (after a restart,
	// the whole log after the snapshot) before it decides anything from
	// the state: recording itself, registering nodes, reconciling them.
	for !c.caughtUpWithLog(ctx) {
		if ctx.Err() != nil || !c.cfg.Store.IsLeader() {
			return
		}
	}
	c.caughtUp.Store(true)
	defer c.caughtUp.Store(false)
	for ctx.Err() == nil {
		err := c.Join(ctx, c.joinRequest())
		if err == nil {
			break
		}
		c.log.Warn("recording this server failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(formRetry):
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.cfg.Nodes != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.cfg.Nodes.Run(ctx) }()
	}
	if c.cfg.OnLeader != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.cfg.OnLeader(ctx) }()
	}
	if c.cfg.DeadServerCleanup > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); c.cleanupLoop(ctx) }()
	}
}

// registerSelf records this follower's addresses through the leader when
// the state does not have them yet.
func (c *Cluster) registerSelf(ctx context.Context) {
	if cur := c.cfg.Store.State().Snapshot().ServerByID(c.cfg.Self.ID); cur != nil && sameServer(*cur, c.cfg.Self) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := c.fwd.OnLeader(rctx, func(ctx context.Context, local bool, cl serverpb.ServerClient) error {
		if local {
			return c.Join(ctx, c.joinRequest())
		}
		_, err := cl.Join(ctx, c.joinRequest())
		return fromStatus(err)
	})
	if err != nil {
		c.log.Debug("registering this server failed; will retry", "error", err)
	}
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// probeLoop asks every other recorded server for its status, once a
// ProbeInterval.
func (c *Cluster) probeLoop(ctx context.Context) {
	every(ctx, c.cfg.ProbeInterval, func() {
		var wg sync.WaitGroup
		for _, srv := range c.cfg.Store.State().Snapshot().Servers() {
			if srv.ID == c.cfg.Self.ID || srv.RPCAddr == "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.status(ctx, srv.RPCAddr)
				c.recordProbe(srv.ID, err == nil)
			}()
		}
		wg.Wait()
	})
}

func (c *Cluster) recordProbe(nodeID string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[nodeID]
	h.NodeID, h.Healthy = nodeID, ok
	if ok {
		h.LastContact = time.Now()
	} else if h.LastContact.IsZero() {
		// Never reached: count the silence from the first probe.
		h.LastContact = time.Now()
		h.Healthy = false
	}
	c.health[nodeID] = h
}

// Health returns what the probes saw of each recorded server; this
// server is always healthy with a contact of now.
func (c *Cluster) Health() map[string]Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Health, len(c.health)+1)
	for id, h := range c.health {
		out[id] = h
	}
	out[c.cfg.Self.ID] = Health{NodeID: c.cfg.Self.ID, LastContact: time.Now(), Healthy: true}
	return out
}

// cleanupLoop removes voters that have been unreachable longer than
// DeadServerCleanup, one at a time, and only while the servers left
// healthy still form a majority of what remains.
func (c *Cluster) cleanupLoop(ctx context.Context) {
	every(ctx, c.cfg.ProbeInterval, func() { c.cleanupOnce(ctx) })
}

func (c *Cluster) cleanupOnce(ctx context.Context) {
	peers, err := c.cfg.Store.Peers()
	if err != nil {
		return
	}
	health := c.Health()
	var dead []string
	healthy := 0
	for _, p := range peers {
		h, known := health[p.ID]
		switch {
		case known && h.Healthy:
			healthy++
		case known && time.Since(h.LastContact) > c.cfg.DeadServerCleanup:
			dead = append(dead, p.ID)
		}
	}
	if len(dead) == 0 || healthy <= (len(peers)-1)/2 {
		return
	}
	id := dead[0]
	if err := c.RemovePeer(ctx, id); err != nil {
		c.log.Warn("removing a dead server failed", "node_id", id, "error", err)
		return
	}
	c.log.Info("removed a dead server", "event", "dead_server_removed", "node_id", id, "unreachable_for", c.cfg.DeadServerCleanup)
}

// caughtUpWithLog runs a Raft barrier: true once this leader has applied
// every entry committed before it.
func (c *Cluster) caughtUpWithLog(ctx context.Context) bool {
	if err := c.cfg.Store.WaitForLeader(5 * time.Second); err != nil {
		c.log.Warn("applying the log as the new leader failed; retrying", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(formRetry):
		}
		return false
	}
	return c.cfg.Store.IsLeader()
}
