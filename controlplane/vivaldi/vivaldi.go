package vivaldi

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// MaxRTT is the longest round trip Observe accepts (serf's own limit).
const MaxRTT = 10 * time.Second

// SettledError is the largest Error (serf's moving average of how wrong
// a coordinate's predictions have been, relative to the round trips
// measured: 1.5 for a new one, a few hundredths once settled) for which
// DistanceTo trusts a coordinate. Before that, an estimate can be off by
// several times the truth.
const SettledError = 0.2

// ErrRejected wraps every reason Observe refuses a measurement.
var ErrRejected = errors.New("vivaldi: measurement rejected")

// Estimator is one process's network coordinate. It is safe for
// concurrent use; a nil *Estimator observes and estimates nothing.
type Estimator struct {
	mu     sync.Mutex
	client *coordinate.Client
}

// New returns an Estimator at the origin, with serf's default
// configuration.
func New() (*Estimator, error) {
	c, err := coordinate.NewClient(coordinate.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("vivaldi: %w", err)
	}
	return &Estimator{client: c}, nil
}

// Coordinate returns a copy of the current coordinate; nil for a nil
// Estimator.
func (e *Estimator) Coordinate() *coordinate.Coordinate {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.client.GetCoordinate()
}

// Observe moves the coordinate after a round trip rtt to peer, whose
// coordinate is peerCoord. peer names the peer (an RPC address, a node id):
// serf keeps a short median filter of round trips per name. A nil, invalid
// or incompatible coordinate, or an rtt not in (0, MaxRTT], changes nothing
// and returns an error wrapping ErrRejected. A nil Estimator ignores
// everything and returns nil.
func (e *Estimator) Observe(peer string, peerCoord *coordinate.Coordinate, rtt time.Duration) error {
	if e == nil {
		return nil
	}
	switch {
	case peerCoord == nil:
		return fmt.Errorf("%w: %s sent no coordinate", ErrRejected, peer)
	case rtt <= 0 || rtt > MaxRTT:
		return fmt.Errorf("%w: round trip %v to %s is not in (0, %v]", ErrRejected, rtt, peer, MaxRTT)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.client.Update(peer, peerCoord, rtt); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRejected, peer, err)
	}
	return nil
}

// DistanceTo estimates the round trip from this coordinate to c. It
// reports false when it cannot: a nil Estimator, a nil, invalid or
// incompatible c, or when either coordinate has not settled yet (its
// Error is above SettledError: a new coordinate, or one whose recent
// predictions were poor).
func (e *Estimator) DistanceTo(c *coordinate.Coordinate) (time.Duration, bool) {
	if e == nil || c == nil || !c.IsValid() {
		return 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	own := e.client.GetCoordinate()
	if !own.IsCompatibleWith(c) || own.Error > SettledError || c.Error > SettledError {
		return 0, false
	}
	return own.DistanceTo(c), true
}

// Encode returns c as JSON (serf's field names, as Consul encodes them);
// nil for a nil or invalid coordinate.
func Encode(c *coordinate.Coordinate) []byte {
	if c == nil || !c.IsValid() {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	return b
}

// Decode parses what Encode made: nil, nil for nothing; an error for
// anything that is not a valid coordinate of at least one dimension.
func Decode(b []byte) (*coordinate.Coordinate, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var c coordinate.Coordinate
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("vivaldi: decode coordinate: %w", err)
	}
	if len(c.Vec) == 0 || !c.IsValid() {
		return nil, fmt.Errorf("vivaldi: decode coordinate: %s is not a valid coordinate", truncate(b))
	}
	return &c, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
