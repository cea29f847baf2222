package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/placement"
)

func newEstimator(t *testing.T) *vivaldi.Estimator {
	t.Helper()
	e, err := vivaldi.New()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func regionNamed(rs []Region, name string) (Region, bool) {
	i := slices.IndexFunc(rs, func(r Region) bool { return r.Name == name })
	if i < 0 {
		return Region{}, false
	}
	return rs[i], true
}

// runProbes runs every server's Federation until the returned stop is
// called (or the test ends); stop returns once they have all stopped.
func runProbes(t *testing.T, servers ...*server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); s.fed.Run(ctx) }()
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestLatencyFollowsCoordinates: three regions whose calls to each other
// take 10, 20 and 25 ms round trips (a delay in each server's client)
// probe each other with coordinates on: every server's latency to every
// other region becomes the Vivaldi estimate, close to the measured round
// trip, and is exactly the distance from its own coordinate to the
// region's.
func TestLatencyFollowsCoordinates(t *testing.T) {
	between := map[[2]string]time.Duration{{"eu", "us"}: ms(10), {"eu", "ap"}: ms(20), {"us", "ap"}: ms(25)}
	var regionOf sync.Map // address → region, filled before the probes start
	delay := func(from string) func(string) time.Duration {
		return func(addr string) time.Duration {
			to, _ := regionOf.Load(addr)
			if d, ok := between[[2]string{from, fmt.Sprint(to)}]; ok {
				return d
			}
			return between[[2]string{fmt.Sprint(to), from}]
		}
	}
	var servers []*server
	for _, region := range []string{"eu", "us", "ap"} {
		s := startServer(t, region, "eu", regionOpts{coords: newEstimator(t), delay: delay(region)})
		regionOf.Store(s.addr, region)
		servers = append(servers, s)
	}
	for _, s := range servers {
		var others []string
		for _, o := range servers {
			if o != s {
				others = append(others, o.addr)
			}
		}
		s.setPeers(others...)
	}
	stop := runProbes(t, servers...)

	// converged reports whether s's latency to o is a Vivaldi estimate
	// within 20% of the smallest round trip its probes measured.
	converged := func(s, o *server) error {
		r, ok := regionNamed(s.fed.Regions(), o.region)
		p, _ := s.fed.peer(o.addr)
		switch {
		case !ok || r.Latency == nil || len(p.rtts) == 0:
			return fmt.Errorf("%s has not measured %s", s.region, o.region)
		case r.LatencySource != LatencyVivaldi || r.Coord == nil:
			return fmt.Errorf("%s → %s: %v from %q", s.region, o.region, *r.Latency, r.LatencySource)
		}
		measured := slices.Min(p.rtts)
		if math.Abs(float64(*r.Latency-measured)) > 0.2*float64(measured) {
			return fmt.Errorf("%s → %s: estimated %v, measured %v", s.region, o.region, *r.Latency, measured)
		}
		return nil
	}
	var last error
	defer func() {
		if t.Failed() && last != nil {
			t.Logf("last: %v", last)
		}
	}()
	waitFor(t, "every latency to become a Vivaldi estimate within 20% of the round trip", func() bool {
		for _, s := range servers {
			for _, o := range servers {
				if o == s {
					continue
				}
				if last = converged(s, o); last != nil {
					return false
				}
			}
		}
		return true
	})
	stop()

	// With the probes stopped nothing moves: the latency is the distance
	// from the server's coordinate to the region's, and the own region's
	// coordinate is the server's.
	for _, s := range servers {
		rs := s.fed.Regions()
		own, _ := regionNamed(rs, s.region)
		if own.Coord == nil || fmt.Sprint(own.Coord) != fmt.Sprint(s.fed.cfg.Coordinates.Coordinate()) ||
			own.Latency != nil || own.LatencySource != "" || own.Summary != nil {
			t.Errorf("%s as its own region: %+v", s.region, own)
		}
		for _, o := range servers {
			if o == s {
				continue
			}
			r, _ := regionNamed(rs, o.region)
			d, ok := s.fed.cfg.Coordinates.DistanceTo(r.Coord)
			if !ok || r.Latency == nil || *r.Latency != d {
				t.Errorf("%s → %s: latency %v, the coordinates' distance %v (%v)", s.region, o.region, r.Latency, d, ok)
			}
			p, _ := s.fed.peer(o.addr)
			t.Logf("%s → %s: Vivaldi %v, probes' smallest %v, set %v", s.region, o.region,
				r.Latency.Round(10*time.Microsecond), slices.Min(p.rtts).Round(10*time.Microsecond), delay(s.region)(o.addr))
		}
	}
}

// TestLatencyFallsBackToProbes: the probes' smallest round trip is the
// latency while the coordinates are off, unknown or not settled.
func TestLatencyFallsBackToProbes(t *testing.T) {
	check := func(name string, eu *server, us *server, wantCoord bool) {
		t.Helper()
		eu.probe(t, us.addr)
		eu.probe(t, us.addr)
		p, _ := eu.fed.peer(us.addr)
		r, ok := regionNamed(eu.fed.Regions(), "us")
		if !ok || r.Latency == nil || *r.Latency != slices.Min(p.rtts) || r.LatencySource != LatencyProbe || (r.Coord != nil) != wantCoord {
			t.Errorf("%s: %s source=%q coord=%v, want the probes' %v", name, show(r), r.LatencySource, r.Coord, slices.Min(p.rtts))
		}
	}
	// Off on both sides.
	check("off", startServer(t, "eu", "eu"), startServer(t, "us", "eu"), false)
	// On here, the other region sends no coordinate.
	check("no coordinate", startServer(t, "eu", "eu", regionOpts{coords: newEstimator(t)}), startServer(t, "us", "eu"), false)
	// Off here, the other region sends one: it is recorded, not used.
	check("off here", startServer(t, "eu", "eu"), startServer(t, "us", "eu", regionOpts{coords: newEstimator(t)}), true)
	// On both sides, two probes: neither coordinate has settled.
	check("not settled", startServer(t, "eu", "eu", regionOpts{coords: newEstimator(t)}),
		startServer(t, "us", "eu", regionOpts{coords: newEstimator(t)}), true)
}

// TestSummaries: the newest summary a probe brought of a region is kept
// and exposed; one that does not decode changes nothing; this region and
// a refused one have none.
func TestSummaries(t *testing.T) {
	var current atomic.Pointer[[]byte]
	set := func(b []byte) { current.Store(&b) }
	// What the answering side sends. placement.Summary itself does not
	// encode while its Warm is keyed by a struct: the other fields are
	// sent, as the decoder reads them.
	encode := func(s placement.Summary) []byte {
		b, err := json.Marshal(struct {
			Nodes          int
			Capacity, Free placement.Resources
			Templates      []string
			MaxFree        map[string]placement.Resources
		}{s.Nodes, s.Capacity, s.Free, s.Templates, s.MaxFree})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := placement.Summary{Nodes: 2, Capacity: placement.Resources{VCPUs: 8, MemoryMB: 16384}, Templates: []string{"base"},
		MaxFree: map[string]placement.Resources{"RUNC": {VCPUs: 3}}}
	set(encode(first))
	eu := startServer(t, "eu", "eu")
	us := startServer(t, "us", "eu", regionOpts{summary: func() []byte { return *current.Load() }})
	summaryOf := func(region string) *placement.Summary {
		r, _ := regionNamed(eu.fed.Regions(), region)
		return r.Summary
	}
	if s := summaryOf("us"); s != nil {
		t.Fatalf("a summary before any probe: %+v", s)
	}
	eu.probe(t, us.addr)
	if got := summaryOf("us"); got == nil || !reflect.DeepEqual(*got, first) {
		t.Fatalf("after a probe: %+v, want %+v", got, first)
	}
	got := summaryOf("us")
	got.MaxFree["RUNC"] = placement.Resources{VCPUs: 99}
	if again := summaryOf("us"); again.MaxFree["RUNC"].VCPUs != 3 {
		t.Fatal("Regions shares the kept summary")
	}

	second := first
	second.Nodes = 3
	set(encode(second))
	eu.probe(t, us.addr)
	if got := summaryOf("us"); got == nil || got.Nodes != 3 {
		t.Fatalf("after the summary changed: %+v", got)
	}
	set([]byte("not json"))
	eu.probe(t, us.addr)
	if got := summaryOf("us"); got == nil || got.Nodes != 3 {
		t.Fatalf("after a summary that does not decode: %+v", got)
	}
	if s := summaryOf("eu"); s != nil {
		t.Fatalf("this region has a summary: %+v", s)
	}

	// A second server of us answers later: its summary is the newest.
	set(encode(first))
	us2 := startServer(t, "us", "eu", regionOpts{summary: func() []byte { return encode(placement.Summary{Nodes: 7}) }})
	eu.probe(t, us2.addr)
	if got := summaryOf("us"); got == nil || got.Nodes != 7 {
		t.Fatalf("after another server answered: %+v", got)
	}
	eu.probe(t, us.addr)
	if got := summaryOf("us"); got == nil || got.Nodes != 2 {
		t.Fatalf("after the first answered again: %+v", got)
	}

	// A refused region's summary and coordinate are not exposed.
	rogue := startServer(t, "ap", "eu", regionOpts{claims: "ap", coords: newEstimator(t),
		summary: func() []byte { return encode(placement.Summary{Nodes: 1}) }})
	eu.probe(t, rogue.addr)
	if r, _ := regionNamed(eu.fed.Regions(), "ap"); !r.Refused || r.Summary != nil || r.Coord != nil || r.Latency != nil {
		t.Fatalf("a refused region: %s summary=%+v coord=%v", show(r), r.Summary, r.Coord)
	}
}
