package meter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// Defaults of ShipperConfig.
const (
	DefaultBatchInterval = 5 * time.Second
	DefaultBatchSize     = 500
	DefaultShipTimeout   = 30 * time.Second
	DefaultKickDelay     = 50 * time.Millisecond
)

// Sink takes batches of records to the control plane.
type Sink interface {
	// Ship sends records, in sequence order and without a gap, and
	// returns the control plane's high-water mark for the node: the
	// highest seq up to which it has committed every record. An error
	// means nothing is known; the batch is sent again.
	Ship(ctx context.Context, records []structs.UsageRecord) (acked uint64, err error)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, records []structs.UsageRecord) (uint64, error)

// Ship calls f.
func (f SinkFunc) Ship(ctx context.Context, records []structs.UsageRecord) (uint64, error) {
	return f(ctx, records)
}

var (
	// ErrSinkAhead: the control plane's mark is past every record this
	// log ever numbered. Its records with those numbers are not this
	// log's: the log was lost or another agent runs under the same node
	// id. Nothing is acknowledged; shipping stays stuck until someone
	// looks.
	ErrSinkAhead = errors.New("meter: the control plane is ahead of this node's log")
	// ErrSinkBehind: the control plane's mark is below records it had
	// acknowledged (it lost them, or answered from stale state); those
	// may be compacted away and cannot be sent again. Nothing is
	// acknowledged; the next round tries again.
	ErrSinkBehind = errors.New("meter: the control plane lost records it had acknowledged")
)

// ShipperConfig configures a Shipper.
type ShipperConfig struct {
	Log           *Log
	Sink          Sink
	Clock         Clock         // default SystemClock()
	BatchInterval time.Duration // how often to ship; default DefaultBatchInterval
	BatchSize     int           // records per batch at most; default DefaultBatchSize
	Timeout       time.Duration // of one Ship call; default DefaultShipTimeout
	OnError       func(error)   // told of every failed round; may be nil
	// KickDelay is how long after a Kick the shipper ships, so that the
	// records of stops close together go in one batch; default
	// DefaultKickDelay.
	KickDelay time.Duration
}

// Shipper sends the log's unacknowledged records to a Sink, at least once
// each, and acknowledges in the log what the control plane committed.
type Shipper struct {
	cfg  ShipperConfig
	kick chan struct{}
}

// NewShipper returns a Shipper; Run drives it.
func NewShipper(cfg ShipperConfig) (*Shipper, error) {
	if cfg.Log == nil || cfg.Sink == nil {
		return nil, errors.New("meter: Log and Sink are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = DefaultBatchInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultShipTimeout
	}
	if cfg.KickDelay <= 0 {
		cfg.KickDelay = DefaultKickDelay
	}
	return &Shipper{cfg: cfg, kick: make(chan struct{}, 1)}, nil
}

// Kick asks Run to ship within KickDelay rather than at its next tick: a
// sandbox's Final record reaches the ledger (and its team's balance) in
// milliseconds. It never blocks; kicks before the ship are one.
func (s *Shipper) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run ships every BatchInterval, and KickDelay after a Kick, until ctx
// ends, and returns nil then.
func (s *Shipper) Run(ctx context.Context) error {
	ticks, stop := s.cfg.Clock.NewTicker(s.cfg.BatchInterval)
	defer stop()
	var soon <-chan time.Time // a kick's ship, once due
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
			if soon == nil {
				soon = time.After(s.cfg.KickDelay)
			}
			continue
		case <-soon:
		case <-ticks:
		}
		soon = nil
		if _, err := s.Ship(ctx); err != nil && ctx.Err() == nil && s.cfg.OnError != nil {
			s.cfg.OnError(err)
		}
	}
}

// maxRounds bounds the batches of one Ship call.
const maxRounds = 100

// Ship sends the unacknowledged records in batches of at most BatchSize,
// from the oldest, each batch from the first record the control plane has
// not committed, until all are committed, a batch fails or none of it is
// taken (at most maxRounds batches); it returns how many records got
// acknowledged. What was not acknowledged is sent again on the next call.
func (s *Shipper) Ship(ctx context.Context) (acked int, err error) {
	for range maxRounds {
		batch, err := s.cfg.Log.Unacked(s.cfg.BatchSize)
		if err != nil || len(batch) == 0 {
			return acked, err
		}
		first, last := batch[0].Seq, batch[len(batch)-1].Seq
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		mark, err := s.cfg.Sink.Ship(sctx, batch)
		cancel()
		switch {
		case err != nil:
			return acked, fmt.Errorf("meter: ship records %d..%d: %w", first, last, err)
		case mark > s.cfg.Log.LastSeq():
			// (A mark past the batch but within the log is normal: an
			// earlier batch was committed but its Ack did not reach the
			// disk, or a previous process sent bigger batches.)
			return acked, fmt.Errorf("%w: sent %d..%d, the control plane has up to %d", ErrSinkAhead, first, last, mark)
		case mark+1 < first:
			return acked, fmt.Errorf("%w: sent %d..%d, the control plane has up to %d", ErrSinkBehind, first, last, mark)
		case mark+1 == first:
			return acked, fmt.Errorf("meter: ship records %d..%d: the control plane took none", first, last)
		}
		if err := s.cfg.Log.Ack(mark); err != nil {
			return acked, err
		}
		acked += int(mark - first + 1)
		if mark >= last && len(batch) < s.cfg.BatchSize {
			return acked, nil // all sent
		}
		// More to send: the rest of a full batch, or what the control
		// plane did not take of this one.
	}
	return acked, nil
}
