package federation

import (
	"slices"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/placement"
)

// Region is one region as this server sees it.
type Region struct {
	Name          string
	Authoritative bool
	Leader        string // the leader's Raft address, "" when none is known
	// Latency is the round trip from this server to the region: the
	// estimate from the network coordinates (this server's to the
	// region's) once both have settled, else the smallest recent probe
	// round trip; nil for this region and for regions not heard from
	// recently or refused. LatencySource says which: LatencyVivaldi or
	// LatencyProbe ("" when Latency is nil).
	Latency       *time.Duration
	LatencySource string
	Healthy       bool // a server answered within the last few seconds and it is not refused
	Refused       bool // it names another authoritative region
	// Coord is the region's network coordinate: the median of its
	// servers' coordinates heard in the last minutes (vivaldi.Book); for
	// this region, this server's own. Nil when unknown or refused.
	Coord *coordinate.Coordinate
	// Summary is the region's capacity as its servers last reported it;
	// nil when none was received, for a refused region, and for this
	// region (computed locally).
	Summary *placement.Summary
}

// Regions lists this region and every probed one, sorted by name.
func (f *Federation) Regions() []Region {
	own := Region{Name: f.cfg.Region, Authoritative: f.IsAuthoritative(), Leader: f.cfg.Local.LeaderAddr(), Coord: f.cfg.Coordinates.Coordinate()}
	own.Healthy = own.Leader != ""
	out := []Region{own}
	f.mu.Lock()
	defer f.mu.Unlock()
	byName := map[string]*Region{}
	for _, p := range f.servers {
		if p.region == "" {
			continue
		}
		r := byName[p.region]
		if r == nil {
			r = &Region{Name: p.region, Authoritative: p.region == f.cfg.Authoritative}
			byName[p.region] = r
		}
		fresh := time.Since(p.lastOK) < healthyWithin
		r.Refused = r.Refused || p.refused
		if fresh && !p.refused {
			r.Healthy = true
			if r.Leader == "" {
				r.Leader = p.leader
			}
			if rtt := p.latency(); rtt > 0 && (r.Latency == nil || rtt < *r.Latency) {
				r.Latency = &rtt
			}
		}
	}
	now := time.Now()
	for _, r := range byName {
		f.estimate(r, now)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Region) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Lag reports how long ago the global state was last replicated here, and
// false when this region is authoritative or has not replicated yet.
func (f *Federation) Lag() (time.Duration, bool) {
	if f.IsAuthoritative() {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.repl.applied.IsZero() {
		return 0, false
	}
	return time.Since(f.repl.applied), true
}
