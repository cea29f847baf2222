package federation

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/placement"
)

// Where a Region's Latency comes from.
const (
	LatencyVivaldi = "vivaldi" // estimated from network coordinates
	LatencyProbe   = "probe"   // the smallest recent probe round trip
)

// regionSummary is the newest capacity summary a probe brought of a
// region.
type regionSummary struct {
	s  *placement.Summary
	at time.Time
}

// heard takes in what a probe's Status reply says of the network and of
// the region's capacity: the answering server's coordinate (observed with
// the probe's round trip, and recorded in the book) and its region's
// summary. f.mu is held.
func (f *Federation) heard(region, addr string, st *serverpb.StatusReply, rtt time.Duration, at time.Time) {
	if c, err := vivaldi.Decode(st.GetCoordinate()); err != nil {
		f.log.Debug("a federated server sent a coordinate that does not decode", "peer", addr, "error", err)
	} else if c != nil {
		_ = f.cfg.Coordinates.Observe(addr, c, rtt) // a rejected measurement changes nothing
		f.coords.Put(region, addr, c, at)
	}
	if b := st.GetSummary(); len(b) > 0 {
		var s placement.Summary
		if err := json.Unmarshal(b, &s); err != nil {
			f.log.Debug("a federated server sent a summary that does not decode", "peer", addr, "error", err)
			return
		}
		if cur, ok := f.summaries[region]; !ok || !cur.at.After(at) {
			f.summaries[region] = regionSummary{s: &s, at: at}
		}
	}
}

// estimate sets r's coordinate and summary and, when both ends'
// coordinates are known and settled, replaces the probes' latency by the
// estimate from this server's coordinate to the region's. A refused
// region gets neither. f.mu is held.
func (f *Federation) estimate(r *Region, now time.Time) {
	if r.Latency != nil {
		r.LatencySource = LatencyProbe
	}
	if r.Refused {
		return
	}
	if s, ok := f.summaries[r.Name]; ok {
		c := *s.s
		c.Templates, c.MaxFree, c.Warm = slices.Clone(c.Templates), maps.Clone(c.MaxFree), maps.Clone(c.Warm)
		r.Summary = &c
	}
	if c, ok := f.coords.Region(r.Name, now); ok {
		r.Coord = c
	}
	if r.Latency == nil { // not heard from recently: nothing to estimate
		return
	}
	if d, ok := f.cfg.Coordinates.DistanceTo(r.Coord); ok && d > 0 {
		r.Latency, r.LatencySource = &d, LatencyVivaldi
	}
}
