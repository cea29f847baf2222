package pool

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Key is what makes two warm sandboxes interchangeable: a claim for a Key
// is served only by a slot started with exactly that Key, so callers
// should normalise it (defaults filled in, VCPUs rounded) before use.
type Key struct {
	Template string
	Runtime  agentapi.Runtime
	VCPUs    float64
	MemoryMB int
	DiskMB   int
}

// String names the key in logs and metrics.
func (k Key) String() string {
	return fmt.Sprintf("%s/%s/%gcpu/%dMB/%dMB", k.Template, k.Runtime, k.VCPUs, k.MemoryMB, k.DiskMB)
}

// less orders keys, so that iteration, Stats and ties in fair sharing are
// deterministic.
func (k Key) less(o Key) bool {
	switch {
	case k.Template != o.Template:
		return k.Template < o.Template
	case k.Runtime != o.Runtime:
		return k.Runtime < o.Runtime
	case k.VCPUs != o.VCPUs:
		return k.VCPUs < o.VCPUs
	case k.MemoryMB != o.MemoryMB:
		return k.MemoryMB < o.MemoryMB
	}
	return k.DiskMB < o.DiskMB
}

// Spec says how many warm slots a pool should hold. The zero Spec holds
// none: the pool's slots are stopped, its counters stay in Stats.
type Spec struct {
	// Size is the fixed target when Adaptive is false.
	Size int
	// Adaptive sizes the pool from its recent claim rate, clamped to
	// [Min, Max]:
	//
	//	target = clamp(ceil(rate × refill × headroom), Min, Max)
	//
	// where rate is the claims per second (hits and misses) decayed with
	// AdaptiveConfig.HalfLife, refill is the larger of
	// AdaptiveConfig.RefillTime and the pool's measured start duration
	// (an EWMA), and headroom is AdaptiveConfig.Headroom. rate × refill is
	// the demand that arrives while one replacement starts (Little's law);
	// headroom covers bursts above the mean. The target rises at once and
	// falls only after it has stayed lower for AdaptiveConfig.ShrinkDelay,
	// so a short lull does not stop slots the next burst needs.
	Adaptive bool
	Min, Max int
}

func (s Spec) validate() error {
	switch {
	case s.Size < 0, s.Min < 0, s.Max < 0:
		return fmt.Errorf("%w: negative size in %+v", ErrInvalidSpec, s)
	case s.Adaptive && s.Min > s.Max:
		return fmt.Errorf("%w: Min %d > Max %d", ErrInvalidSpec, s.Min, s.Max)
	}
	return nil
}

// AdaptiveConfig tunes adaptive sizing (see Spec.Adaptive).
type AdaptiveConfig struct {
	HalfLife    time.Duration // of the claim rate; default 5s
	RefillTime  time.Duration // floor of the expected start duration; default 100ms
	Headroom    float64       // multiplier over the mean demand; default 2
	ShrinkDelay time.Duration // how long a lower target must hold before slots are stopped; default 30s
}

// Config configures a Pool. Starter and MaxTotalMemoryMB are required.
type Config struct {
	Starter Starter
	// Pools are the pools to keep from the start; Resize changes them.
	Pools map[Key]Spec
	// MaxTotalMemoryMB bounds the sum of Key.MemoryMB over every slot the
	// pools hold (ready, starting or stopping); claimed slots no longer count.
	MaxTotalMemoryMB int
	Adaptive         AdaptiveConfig
	// Starts cost CPU on the node that also runs the users' sandboxes, so
	// refills are bounded: MaxStartsPerPool (default 2) in flight per pool,
	// MaxStarts (default 4) on the node, MaxStops (default 4) stops.
	MaxStartsPerPool int
	MaxStarts        int
	MaxStops         int
	StartTimeout     time.Duration // per Start call; default 30s
	StopTimeout      time.Duration // per Stop call; default 10s
	// After n consecutive start errors a pool waits
	// min(BackoffMin × 2^(n-1), BackoffMax) before its next start;
	// defaults 250ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// RefillDelay is how long after a claim its refill starts: a start
	// costs ~100 ms of CPU, and begun at once it would compete with the
	// rest of the create that claimed (committing it, answering the
	// caller) on the same node. Default 20ms; negative: at once.
	RefillDelay time.Duration
	// Tick is how often the refill loop re-evaluates adaptive targets when
	// nothing else wakes it; default 250ms.
	Tick time.Duration
	// IDPrefix starts every slot id; default "warm-". Letters, digits and
	// '-', '_', '.', starting with a letter or digit.
	IDPrefix string
	Now      func() time.Time // default time.Now; tests pass a fake clock
	Logger   *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	if c.RefillDelay == 0 {
		c.RefillDelay = 20 * time.Millisecond
	}
	def(&c.Adaptive.HalfLife, 5*time.Second)
	def(&c.Adaptive.RefillTime, 100*time.Millisecond)
	def(&c.Adaptive.ShrinkDelay, 30*time.Second)
	if c.Adaptive.Headroom <= 0 {
		c.Adaptive.Headroom = 2
	}
	defInt(&c.MaxStartsPerPool, 2)
	defInt(&c.MaxStarts, 4)
	defInt(&c.MaxStops, 4)
	def(&c.StartTimeout, 30*time.Second)
	def(&c.StopTimeout, 10*time.Second)
	def(&c.BackoffMin, 250*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.Tick, 250*time.Millisecond)
	if c.IDPrefix == "" {
		c.IDPrefix = "warm-"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// validPrefix keeps slot ids usable as runc ids, bundle directory and
// cgroup names (the runtime's own check allows up to 128 bytes; the nonce
// and sequence number take the rest).
func validPrefix(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return len(s) > 0 && len(s) <= 64
}
