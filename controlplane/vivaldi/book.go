package vivaldi

import (
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// DefaultFreshness is how recently a server's coordinate must have been
// heard to count in its region's coordinate, when Book.Freshness is zero.
const DefaultFreshness = 2 * time.Minute

// Book remembers the latest coordinate of each server of each region. The
// zero Book is ready to use; it is safe for concurrent use.
type Book struct {
	// Freshness: coordinates heard longer ago than this do not count
	// (DefaultFreshness when zero).
	Freshness time.Duration

	mu      sync.Mutex
	regions map[string]map[string]heard // region → server → what was heard
}

type heard struct {
	c  *coordinate.Coordinate
	at time.Time
}

// Put records that server of region had coordinate c at time at. A nil or
// invalid c, or one older than what the Book has of that server, is
// ignored.
func (b *Book) Put(region, server string, c *coordinate.Coordinate, at time.Time) {
	if c == nil || !c.IsValid() || len(c.Vec) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.regions == nil {
		b.regions = map[string]map[string]heard{}
	}
	servers := b.regions[region]
	if servers == nil {
		servers = map[string]heard{}
		b.regions[region] = servers
	}
	if cur, ok := servers[server]; ok && cur.at.After(at) {
		return
	}
	servers[server] = heard{c: c.Clone(), at: at}
}

// Region returns the coordinate of region: the component-wise median
// (each dimension of Vec, Height, Adjustment, Error) of its servers'
// coordinates heard within the freshness window before now, and false
// when none was. Coordinates of a dimensionality other than the most
// recent one's are left out. Stale entries are forgotten.
func (b *Book) Region(region string, now time.Time) (*coordinate.Coordinate, bool) {
	window := b.Freshness
	if window <= 0 {
		window = DefaultFreshness
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var fresh []heard
	for server, h := range b.regions[region] {
		if now.Sub(h.at) > window {
			delete(b.regions[region], server)
			continue
		}
		fresh = append(fresh, h)
	}
	if len(fresh) == 0 {
		return nil, false
	}
	newest := slices.MaxFunc(fresh, func(a, b heard) int { return a.at.Compare(b.at) })
	dims := len(newest.c.Vec)
	fresh = slices.DeleteFunc(fresh, func(h heard) bool { return len(h.c.Vec) != dims })
	out := &coordinate.Coordinate{Vec: make([]float64, dims)}
	vals := make([]float64, len(fresh))
	component := func(get func(*coordinate.Coordinate) float64) float64 {
		for i, h := range fresh {
			vals[i] = get(h.c)
		}
		return median(vals)
	}
	for d := range dims {
		out.Vec[d] = component(func(c *coordinate.Coordinate) float64 { return c.Vec[d] })
	}
	out.Height = component(func(c *coordinate.Coordinate) float64 { return c.Height })
	out.Adjustment = component(func(c *coordinate.Coordinate) float64 { return c.Adjustment })
	out.Error = component(func(c *coordinate.Coordinate) float64 { return c.Error })
	return out, true
}

// median sorts vals and returns their median (the mean of the two middle
// values for an even count).
func median(vals []float64) float64 {
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}
