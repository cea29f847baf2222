package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Errors of this package.
var (
	// ErrClosed is returned by operations on a closed Pool.
	ErrClosed = errors.New("pool: closed")
	// ErrInvalidSpec is returned for a Key or Spec the pool cannot serve.
	ErrInvalidSpec = errors.New("pool: invalid spec")
)

// Starter starts and stops the real sandboxes; the agent's runtime
// implements it. Both methods are called concurrently for different slots,
// never concurrently for the same slot.
type Starter interface {
	// Start starts a sandbox under slotID as key describes and returns once
	// envd inside it answers. The pool calls Stop after a failed Start too,
	// so a half-started sandbox is not left behind.
	Start(ctx context.Context, slotID string, key Key) error
	// Stop kills the sandbox slotID and removes what it left on the host.
	// Stopping an unknown or already stopped slot is not an error.
	Stop(ctx context.Context, slotID string) error
}

// Pool keeps warm pools of sandboxes, one per Key. It is safe for
// concurrent use.
type Pool struct {
	cfg    Config
	prefix string // IDPrefix + this process's nonce
	log    *slog.Logger

	wake    chan struct{} // cap 1: a pending request for a refill pass
	quit    chan struct{} // closed by Close: the refill loop makes a last pass and ends
	stopSem chan struct{} // bounds concurrent Stop calls
	wg      sync.WaitGroup

	mu       sync.Mutex
	pools    map[Key]*pool
	order    []*pool // sorted by Key.less
	seq      uint64
	starting int // slots in Start, node-wide
	paused   bool
	closed   bool
	// genCtx is the parent of every Start; Drain and Close cancel it so
	// starts in flight end early.
	genCtx    context.Context
	genCancel context.CancelFunc
	changed   chan struct{} // closed and replaced when a slot leaves the pool
}

// pool is the state of one Key's pool; Pool.mu guards it.
type pool struct {
	key      Key
	spec     Spec
	ready    []string // oldest first; Claim takes the newest
	starting map[string]struct{}
	stopping map[string]struct{}

	desired  int // from spec (and the claim rate), before the memory bound
	target   int // after the memory bound
	rate     rateEstimator
	adapt    hysteresis
	startDur time.Duration // EWMA of successful start durations

	claims, hits, misses uint64
	failures             int // consecutive start errors
	lastErr              string
	lastErrAt            time.Time
	retryAt              time.Time
}

// New returns a Pool and starts its refill loop. Call Close to stop it.
func New(cfg Config) (*Pool, error) {
	if cfg.Starter == nil {
		return nil, errors.New("pool: Config.Starter is required")
	}
	if cfg.MaxTotalMemoryMB <= 0 {
		return nil, errors.New("pool: Config.MaxTotalMemoryMB must be positive")
	}
	cfg.setDefaults()
	if !validPrefix(cfg.IDPrefix) {
		return nil, fmt.Errorf("pool: invalid Config.IDPrefix %q", cfg.IDPrefix)
	}
	var nonce [4]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand panics instead)
	p := &Pool{
		cfg: cfg,
		// The nonce keeps this process's ids apart from slots an earlier
		// process left behind that reconcile has not removed yet.
		prefix:  cfg.IDPrefix + hex.EncodeToString(nonce[:]) + "-",
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopSem: make(chan struct{}, cfg.MaxStops),
		pools:   make(map[Key]*pool),
		changed: make(chan struct{}),
	}
	p.genCtx, p.genCancel = context.WithCancel(context.Background())
	for k, s := range cfg.Pools {
		if err := p.Resize(k, s); err != nil {
			p.genCancel()
			return nil, err
		}
	}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// Prefix is Config.IDPrefix: every slot id of this and any earlier Pool
// with the same config starts with it. An id with the prefix that is
// neither in Slots nor claimed by a live sandbox is garbage.
func (p *Pool) Prefix() string { return p.cfg.IDPrefix }

// Claim hands out a ready slot of key's pool, or returns ok=false when
// there is none (the caller then starts cold). It never waits for a start.
// The caller owns the slot from then on: the pool neither stops nor hands
// it out again. Every claim, hit or miss, counts towards the adaptive rate
// and wakes the refill after Config.RefillDelay.
func (p *Pool) Claim(ctx context.Context, key Key) (slotID string, ok bool) {
	_ = ctx // Claim is O(1) and never blocks on I/O; ctx is for symmetry with the agent's calls
	p.mu.Lock()
	pl := p.pools[key]
	if pl == nil || p.closed {
		p.mu.Unlock()
		return "", false
	}
	pl.claims++
	pl.rate.observe(p.cfg.Now(), p.cfg.Adaptive.HalfLife)
	// A draining pool hands nothing out: its slots are being stopped.
	if n := len(pl.ready); n > 0 && !p.paused {
		slotID, ok = pl.ready[n-1], true // the newest: the most likely to be warm in caches
		pl.ready[n-1] = ""
		pl.ready = pl.ready[:n-1]
		pl.hits++
	} else {
		pl.misses++
	}
	p.mu.Unlock()
	if p.cfg.RefillDelay > 0 {
		time.AfterFunc(p.cfg.RefillDelay, p.kick)
	} else {
		p.kick()
	}
	return slotID, ok
}

// Discard drops a ready slot that died while warm (its sandbox exited), so
// it is never handed out, and wakes the refill to replace it. It reports
// whether the slot was ready in a pool; the caller stops what is left of it.
func (p *Pool) Discard(slotID string) bool {
	p.mu.Lock()
	found := false
	for _, pl := range p.order {
		for i, id := range pl.ready {
			if id == slotID {
				pl.ready = append(pl.ready[:i], pl.ready[i+1:]...)
				found = true
				break
			}
		}
		if found {
			break
		}
	}
	p.mu.Unlock()
	if found {
		p.kick()
	}
	return found
}

// Resize sets key's Spec, creating the pool if needed. Lowering a target
// stops the surplus ready slots in the background; the zero Spec empties
// the pool but keeps its counters.
func (p *Pool) Resize(key Key, spec Spec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	if key.MemoryMB <= 0 || math.IsNaN(key.VCPUs) || key.VCPUs < 0 || key.DiskMB < 0 {
		// MemoryMB is what the memory bound counts, so it must be real.
		return fmt.Errorf("%w: key %s needs MemoryMB > 0 and non-negative resources", ErrInvalidSpec, key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	pl := p.pools[key]
	if pl == nil {
		pl = &pool{key: key, starting: make(map[string]struct{}), stopping: make(map[string]struct{})}
		p.pools[key] = pl
		i := sort.Search(len(p.order), func(i int) bool { return key.less(p.order[i].key) })
		p.order = append(p.order, nil)
		copy(p.order[i+1:], p.order[i:])
		p.order[i] = pl
	}
	if pl.spec != spec {
		pl.spec = spec
		pl.adapt = hysteresis{} // a new spec starts its adaptive target afresh
	}
	p.kick()
	return nil
}

// PoolStats describes one pool at one moment.
type PoolStats struct {
	Key      Key
	Spec     Spec
	Ready    int // slots that Claim can hand out
	Starting int
	Stopping int
	Desired  int // what Spec (and the claim rate) asks for
	Target   int // Desired after the memory bound
	MemoryMB int // held by Ready + Starting + Stopping slots

	Claims, Hits, Misses uint64  // Claims = Hits + Misses
	ClaimRate            float64 // claims per second, decayed (see Spec.Adaptive)

	Failures    int    // consecutive start errors; 0 once a start succeeds again
	LastError   string // the latest start error, kept after recovery
	LastErrorAt time.Time
}

// Stats returns one entry per pool, ordered by key.
func (p *Pool) Stats() []PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	out := make([]PoolStats, 0, len(p.order))
	for _, pl := range p.order {
		out = append(out, PoolStats{
			Key: pl.key, Spec: pl.spec,
			Ready: len(pl.ready), Starting: len(pl.starting), Stopping: len(pl.stopping),
			Desired: pl.desired, Target: pl.target, MemoryMB: pl.memoryMB(),
			Claims: pl.claims, Hits: pl.hits, Misses: pl.misses,
			ClaimRate: pl.rate.rate(now, p.cfg.Adaptive.HalfLife),
			Failures:  pl.failures, LastError: pl.lastErr, LastErrorAt: pl.lastErrAt,
		})
	}
	return out
}

// Slots returns the ids of every slot the pool owns now (ready, starting
// or stopping), sorted. Claimed slots are not in it.
func (p *Pool) Slots() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, pl := range p.order {
		ids = append(ids, pl.ready...)
		for id := range pl.starting {
			ids = append(ids, id)
		}
		for id := range pl.stopping {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Drain stops every warm slot and pauses refilling until Resume: starts in
// flight are cancelled and their slots stopped, claims miss. It returns
// when the pool owns no slot any more, or with ctx's error (the stops go
// on in the background).
func (p *Pool) Drain(ctx context.Context) error {
	p.mu.Lock()
	p.pauseLocked()
	p.mu.Unlock()
	p.kick()
	return p.waitEmpty(ctx)
}

// Resume ends a Drain: the pools refill to their targets.
func (p *Pool) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.paused {
		return
	}
	p.paused = false
	p.genCtx, p.genCancel = context.WithCancel(context.Background())
	p.kick()
}

// Close drains the pool and ends its refill loop. After it returns nil
// every slot the pool started was either claimed or stopped and no
// goroutine of the pool is left. On ctx's error the remaining stops finish
// in the background. Close may be called more than once.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.pauseLocked()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if first {
		close(p.quit)
	}
	if err := p.waitEmpty(ctx); err != nil {
		return fmt.Errorf("pool: close: %w", err)
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool: close: %w", ctx.Err())
	}
}

func (p *Pool) pauseLocked() {
	p.paused = true
	p.genCancel()
}

// waitEmpty waits until no pool owns a slot.
func (p *Pool) waitEmpty(ctx context.Context) error {
	for {
		p.mu.Lock()
		n := 0
		for _, pl := range p.order {
			n += pl.held()
		}
		ch := p.changed
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// signalLocked tells waitEmpty that a slot left the pool.
func (p *Pool) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// kick asks the refill loop for a pass without blocking.
func (p *Pool) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// newIDLocked returns a fresh slot id.
func (p *Pool) newIDLocked() string {
	p.seq++
	return p.prefix + strconv.FormatUint(p.seq, 10)
}

// held counts the slots the pool owns.
func (pl *pool) held() int { return len(pl.ready) + len(pl.starting) + len(pl.stopping) }

func (pl *pool) memoryMB() int { return pl.held() * pl.key.MemoryMB }
