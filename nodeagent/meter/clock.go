package meter

import "time"

// Clock is the time source of a Meter and a Shipper; tests inject a fake.
type Clock interface {
	Now() time.Time
	// NewTicker delivers the time every d on the channel until stop.
	NewTicker(d time.Duration) (ticks <-chan time.Time, stop func())
}

// SystemClock is the real clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
