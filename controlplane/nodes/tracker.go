package nodes

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// DefaultTTL is how long a node may stay silent before it is DOWN, when
// Config.TTL is zero.
const DefaultTTL = 6 * time.Second

// DefaultStartTimeout bounds how long a sandbox may stay CREATING on a
// node that does not run it: a cold start takes well under a second, so
// one that has not happened in a minute was abandoned.
const DefaultStartTimeout = time.Minute

// Store is what the tracker needs of the Raft store.
type Store interface {
	Apply(ctx context.Context, t command.Type, req any) (any, error)
	State() *state.Store
}

// Config configures a Tracker.
type Config struct {
	// Store is the region's Raft store (required).
	Store Store
	// TTL: a node with no heartbeat for this long is DOWN (DefaultTTL when
	// zero).
	TTL time.Duration
	// Interval is how often agents should beat, returned in every Reply
	// (TTL/3 when zero).
	Interval time.Duration
	// Grace is how long the state and an agent may disagree about a
	// sandbox that is just starting before the leader acts (TTL when
	// zero). An id an agent runs but the state does not know is killed
	// only once it has stayed unknown this long: a warm claim runs before
	// its create commits. A sandbox that started less than Grace ago is
	// not marked STOPPED because a beat lacks it: the beat may have been
	// built before the start finished.
	Grace time.Duration
	// StartTimeout: a sandbox still CREATING this long after it was
	// created, that its node does not run, is FAILED (START_FAILED): the
	// server that was starting it died between the commit and the start
	// (DefaultStartTimeout when zero).
	StartTimeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives the tracker's logs (discarded when nil).
	Logger *slog.Logger
}

// Usage is the capacity a node has in use now.
type Usage struct {
	VCPUs     float64
	MemoryMB  int
	Sandboxes int
}

// Heartbeat is what an agent reports about itself.
type Heartbeat struct {
	// Node is the node as the agent describes itself: ID, Region, Zone,
	// RPCAddr, VCPUs, MemoryMB, DiskMB, Templates, Runtimes. Status and
	// UpdatedAt are the tracker's to set.
	Node structs.Node
	// Sandboxes are the ids the agent actually runs now.
	Sandboxes []string
	// FreeSlots counts ready warm sandboxes by warm-pool key.
	FreeSlots map[string]int
	// Used is the live capacity in use.
	Used Usage
	// Exited maps sandboxes that ended by themselves (envd exited, the
	// container died) to their stop reason; the agent repeats them for a
	// while, and the leader records each once.
	Exited map[string]string
	// Ended maps the sandboxes a crash of the agent cut short to the end
	// of their metering (its last checkpoint before the crash): the leader
	// stops those it still holds running there, not at the beat, so that
	// their lifecycle ends where their billing does.
	Ended map[string]time.Time `json:",omitempty"`
	// Coord is the agent's network coordinate (package vivaldi); nil when
	// it has none.
	Coord *coordinate.Coordinate `json:",omitempty"`
	// RTT is the round trip of the agent's previous heartbeat, to the
	// server this one goes to; 0 when not measured.
	RTT time.Duration `json:",omitempty"`
}

// clone returns a copy that shares nothing with hb.
func (hb Heartbeat) clone() Heartbeat {
	hb.Node.Templates = slices.Clone(hb.Node.Templates)
	hb.Node.Runtimes = slices.Clone(hb.Node.Runtimes)
	hb.Sandboxes = slices.Clone(hb.Sandboxes)
	hb.FreeSlots = maps.Clone(hb.FreeSlots)
	hb.Exited = maps.Clone(hb.Exited)
	if hb.Coord != nil {
		hb.Coord = hb.Coord.Clone()
	}
	return hb
}

// Reply is the leader's answer to a heartbeat.
type Reply struct {
	// Kill lists sandbox ids the agent must stop and forget.
	Kill []string
	// Interval is how often to beat; TTL how long silence may last before
	// the node is marked DOWN.
	Interval, TTL time.Duration
	// Drain says the node is draining (a drain, or Nomad): it gets no new
	// sandboxes, and its agent empties its warm pools until the drain ends.
	Drain bool `json:",omitempty"`
	// Coord is the network coordinate of the server that answered the
	// agent (not the leader's when the beat was forwarded); nil when it
	// has none.
	Coord *coordinate.Coordinate `json:",omitempty"`
}

// Tracker follows the node agents' heartbeats on the leader.
type Tracker struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	nodes map[string]*entry
}

// entry is what the tracker knows of one node. op serializes the node's
// heartbeats with its down check and guards unknown and missing; the
// other fields are guarded by Tracker.mu.
type entry struct {
	op sync.Mutex
	// unknown: sandbox id the agent runs but the state does not know →
	// when that was first seen. missing: STOPPING sandbox the agent no
	// longer runs → when that was first seen.
	unknown, missing map[string]time.Time

	hb     Heartbeat
	beatAt time.Time // zero until the first beat
	// fresh is when the node's TTL clock last restarted: its latest beat,
	// or when this server began to watch it as leader.
	fresh time.Time
}

// New returns a tracker. Call Run on the leader to mark silent nodes DOWN.
func New(cfg Config) *Tracker {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Interval <= 0 {
		cfg.Interval = cfg.TTL / 3
	}
	if cfg.Grace <= 0 {
		cfg.Grace = cfg.TTL
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tracker{cfg: cfg, log: cfg.Logger.With("component", "nodes"), nodes: map[string]*entry{}}
}

// entry returns the node's entry, creating it.
func (t *Tracker) entry(nodeID string) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.nodes[nodeID]
	if e == nil {
		e = &entry{unknown: map[string]time.Time{}, missing: map[string]time.Time{}}
		t.nodes[nodeID] = e
	}
	return e
}

// Live returns the latest heartbeat of a node and when it arrived. ok is
// false when this tracker has had no beat from the node.
func (t *Tracker) Live(nodeID string) (hb Heartbeat, at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.nodes[nodeID]
	if e == nil || e.beatAt.IsZero() {
		return Heartbeat{}, time.Time{}, false
	}
	return e.hb.clone(), e.beatAt, true
}

// Heartbeat records a node's beat, registers or revives the node when it
// is new, DOWN or describes itself differently, and reconciles what the
// agent runs with the state. It is served by the leader only: on another
// server the writes fail with the store's not-leader error, which the
// caller should avoid by forwarding.
func (t *Tracker) Heartbeat(ctx context.Context, hb Heartbeat) (Reply, error) {
	id := hb.Node.ID
	if id == "" {
		return Reply{}, apperr.New(apperr.InvalidArgument, "a heartbeat needs a node id")
	}
	e := t.entry(id)
	e.op.Lock()
	defer e.op.Unlock()

	now := t.cfg.Now()
	t.mu.Lock()
	e.hb, e.beatAt, e.fresh = hb.clone(), now, now
	t.mu.Unlock()

	if err := t.register(ctx, hb.Node, now); err != nil {
		return Reply{}, err
	}
	kill, err := t.reconcile(ctx, e, id, hb, now)
	if err != nil {
		return Reply{}, err
	}
	drain := false
	if n := t.cfg.Store.State().Snapshot().NodeByID(id); n != nil {
		drain = n.Draining
	}
	return Reply{Kill: kill, Interval: t.cfg.Interval, TTL: t.cfg.TTL, Drain: drain}, nil
}

// register commits the node as READY when the state does not have it,
// has it DOWN, or has a different description of it.
func (t *Tracker) register(ctx context.Context, n structs.Node, now time.Time) error {
	cur := t.cfg.Store.State().Snapshot().NodeByID(n.ID)
	if cur != nil && cur.Status == structs.NodeReady && sameDescription(cur, &n) {
		return nil
	}
	n.Status, n.UpdatedAt = structs.NodeReady, now
	if _, err := t.cfg.Store.Apply(ctx, command.NodeUpsert, command.NodeUpsertRequest{Node: n}); err != nil {
		return fmt.Errorf("register node %s: %w", n.ID, err)
	}
	switch {
	case cur == nil:
		t.log.Info("node registered", "event", "node_registered", "node_id", n.ID, "region", n.Region, "rpc_addr", n.RPCAddr)
	case cur.Status != structs.NodeReady:
		t.log.Info("node ready again", "event", "node_ready", "node_id", n.ID, "was", cur.Status)
	default:
		t.log.Info("node description changed", "event", "node_updated", "node_id", n.ID)
	}
	return nil
}

// sameDescription reports whether the agent describes the node as the
// state has it.
func sameDescription(a, b *structs.Node) bool {
	return a.Region == b.Region && a.Zone == b.Zone && a.RPCAddr == b.RPCAddr &&
		a.VCPUs == b.VCPUs && a.MemoryMB == b.MemoryMB && a.DiskMB == b.DiskMB &&
		slices.Equal(a.Templates, b.Templates) && slices.Equal(a.Runtimes, b.Runtimes) && maps.Equal(a.Labels, b.Labels)
}
