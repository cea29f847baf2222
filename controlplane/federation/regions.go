package federation

import (
	"slices"
	"time"
)

// Region is one region as this server sees it.
type Region struct {
	Name          string
	Authoritative bool
	Leader        string         // the leader's Raft address, "" when none is known
	Latency       *time.Duration // the smallest recent probe round trip; nil for this region and unmeasured ones
	Healthy       bool           // a server answered within the last few seconds and it is not refused
	Refused       bool           // it names another authoritative region
}

// Regions lists this region and every probed one, sorted by name.
func (f *Federation) Regions() []Region {
	own := Region{Name: f.cfg.Region, Authoritative: f.IsAuthoritative(), Leader: f.cfg.Local.LeaderAddr()}
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
	for _, r := range byName {
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
