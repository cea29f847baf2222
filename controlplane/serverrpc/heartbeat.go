package serverrpc

import (
	"context"
	"log/slog"
	"time"

	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/vivaldi"
)

// HeartbeaterConfig wires an agent's heartbeats to its region's servers.
type HeartbeaterConfig struct {
	// Servers lists the RPC addresses of the region's servers (a static
	// list, or what Consul says now).
	Servers func(ctx context.Context) ([]string, error)
	Dial    forward.Dialer
	// Beat describes the node now.
	Beat func(ctx context.Context) (nodes.Heartbeat, error)
	// OnReply acts on the leader's answer (kills leftovers).
	OnReply func(ctx context.Context, r nodes.Reply)
	// Interval between beats until the first reply says otherwise.
	Interval time.Duration
	Logger   *slog.Logger
	// Coordinates, when set, is the agent's network coordinate (package
	// vivaldi): every beat carries it, with the round trip of the
	// previous beat to the same server, and the answering server's
	// coordinate is observed with each beat's round trip.
	Coordinates *vivaldi.Estimator
}

// Heartbeater sends an agent's heartbeats, staying with one server while
// it answers and moving to the next when it does not.
type Heartbeater struct {
	cfg  HeartbeaterConfig
	kick chan struct{}
	// The last beat that was answered: by which server, in how long.
	// Only Run's goroutine uses them.
	lastServer string
	lastRTT    time.Duration
}

// NewHeartbeater returns a heartbeater; call Run.
func NewHeartbeater(cfg HeartbeaterConfig) *Heartbeater {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Heartbeater{cfg: cfg, kick: make(chan struct{}, 1)}
}

// Kick asks for a beat now (e.g. a sandbox ended), without waiting.
func (h *Heartbeater) Kick() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Run beats until ctx ends.
func (h *Heartbeater) Run(ctx context.Context) {
	interval := h.cfg.Interval
	current := ""
	for {
		next, err := h.beatOnce(ctx, current)
		if err != nil {
			h.cfg.Logger.Warn("heartbeat failed", "event", "heartbeat_failed", "server", current, "error", err)
		} else if next.server != current {
			h.cfg.Logger.Info("heartbeating to server", "event", "heartbeat_server", "server", next.server)
		}
		current = next.server
		if next.interval > 0 {
			interval = next.interval
		}
		wait := interval
		if err != nil {
			wait = min(interval, 250*time.Millisecond) // try the next server soon
		}
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		case <-time.After(wait):
		}
	}
}

type beatResult struct {
	server   string
	interval time.Duration
}

// beatOnce sends one beat to the current server or, when it fails, to the
// others in turn.
func (h *Heartbeater) beatOnce(ctx context.Context, current string) (beatResult, error) {
	servers, err := h.cfg.Servers(ctx)
	if err != nil || len(servers) == 0 {
		if err == nil {
			err = errNoServers
		}
		return beatResult{server: current}, err
	}
	order := rotate(servers, current)
	hb, err := h.cfg.Beat(ctx)
	if err != nil {
		return beatResult{server: current}, err
	}
	var lastErr error
	for _, addr := range order {
		conn, err := h.cfg.Dial.Conn(addr)
		if err != nil {
			lastErr = err
			continue
		}
		sent := hb
		if h.cfg.Coordinates != nil {
			sent.Coord = h.cfg.Coordinates.Coordinate()
			if addr == h.lastServer {
				sent.RTT = h.lastRTT
			}
		}
		bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		reply, err := SendHeartbeat(bctx, serverpb.NewServerClient(conn), sent)
		rtt := time.Since(start)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		h.lastServer, h.lastRTT = addr, rtt
		if reply.Coord != nil {
			_ = h.cfg.Coordinates.Observe(addr, reply.Coord, rtt) // a rejected measurement changes nothing
		}
		if h.cfg.OnReply != nil {
			h.cfg.OnReply(ctx, reply)
		}
		return beatResult{server: addr, interval: reply.Interval}, nil
	}
	return beatResult{server: ""}, lastErr
}

// rotate puts current first (when present), keeping the others' order.
func rotate(servers []string, current string) []string {
	for i, s := range servers {
		if s == current {
			return append(append([]string{}, servers[i:]...), servers[:i]...)
		}
	}
	return servers
}
