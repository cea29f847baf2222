package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/codeint/codeint/placement"
)

// Streams of the scenario's seed, one per use, so that one use drawing
// more numbers does not shift another's.
const (
	streamNetwork  = 1
	streamWorkload = 2
	streamPolicy   = 3
)

// world is what a scenario fixes before any policy runs: the network,
// its coordinates and the workload. Runs only read it.
type world struct {
	sc       Scenario
	net      *network
	arrivals []arrival
	teams    []string
	homes    []string       // per population: the region its clients name
	regionIx map[string]int // scenario index of a region
	// common is the most requested shape, largest the one with the most
	// memory (then vCPUs): the shapes fragmentation is measured for.
	common, largest Shape
}

func prepare(sc Scenario) (*world, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	net, err := buildNetwork(&sc, rand.New(rand.NewPCG(sc.Seed, streamNetwork)))
	if err != nil {
		return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
	}
	w := &world{sc: sc, net: net, teams: teamNames(sc.Teams), regionIx: map[string]int{}}
	w.arrivals = drawArrivals(&sc, rand.New(rand.NewPCG(sc.Seed, streamWorkload)))
	for i, r := range sc.Regions {
		w.regionIx[r.Name] = i
	}
	for _, p := range sc.Populations {
		home := p.Home
		if home == "" {
			home = sc.defaultRegion()
		}
		w.homes = append(w.homes, home)
	}
	w.common, w.largest = sc.Shapes[0], sc.Shapes[0]
	for _, s := range sc.Shapes[1:] {
		if s.Weight > w.common.Weight {
			w.common = s
		}
		if s.MemoryMB > w.largest.MemoryMB || s.MemoryMB == w.largest.MemoryMB && s.VCPUs > w.largest.VCPUs {
			w.largest = s
		}
	}
	return w, nil
}

// Run simulates the scenario under one policy.
func Run(sc Scenario, p Policy) (Result, error) {
	w, err := prepare(sc)
	if err != nil {
		return Result{}, err
	}
	return w.run(p)
}

// Compare runs the scenario under each policy, on the same network and
// the same arrivals, and reports the results in the order given.
func Compare(sc Scenario, ps ...Policy) (Report, error) {
	w, err := prepare(sc)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Scenario: sc, Requests: len(w.arrivals), Vivaldi: w.net.stats()}
	for _, p := range ps {
		r, err := w.run(p)
		if err != nil {
			return Report{}, err
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// run is one policy's run: arrivals in order, and between them the
// events (ends of starts, departures, warm refills) that fall due.
func (w *world) run(p Policy) (Result, error) {
	c, err := newCluster(&w.sc, w.net)
	if err != nil {
		return Result{}, err
	}
	rs := &runState{w: w, c: c, p: p, rng: rand.New(rand.NewPCG(w.sc.Seed, streamPolicy)),
		regrets: make([]float64, 0, len(w.arrivals))}
	rs.res.Policy = p.Name()
	for i := range w.arrivals {
		a := &w.arrivals[i]
		rs.advance(a.at)
		if err := rs.arrive(a); err != nil {
			return Result{}, fmt.Errorf("policy %s, request %d at %.3f s: %w", p.Name(), i+1, a.at, err)
		}
	}
	rs.advance(w.sc.DurationSeconds)
	rs.finish()
	return rs.res, nil
}

type runState struct {
	w       *world
	c       *Cluster
	p       Policy
	rng     *rand.Rand
	q       eventQueue
	res     Result
	regrets []float64
	rttSum  float64
	decide  time.Duration // wall time inside Policy.Place
	// Fragmentation summed over the samples, one a simulated second.
	fragCommon, fragLargest float64
	samples                 int
	nextSample              float64
}

// advance applies the events due by t, and takes the samples due before
// it.
func (rs *runState) advance(t float64) {
	snap := rs.c.Snapshot()
	for {
		e, ok := rs.q.next(min(t, rs.nextSample))
		if !ok {
			if rs.nextSample >= t {
				return
			}
			rs.sample()
			rs.nextSample++
			continue
		}
		switch e.kind {
		case started:
			snap.Release(e.node.ID, e.res, e.team, true, false)
		case departed:
			snap.Release(e.node.ID, e.res, e.team, false, true)
		case refilled:
			rs.c.refill(e.node, rs.w.sc.Warm.SlotsPerNode)
		}
	}
}

// arrive places one request and records what came of it.
func (rs *runState) arrive(a *arrival) error {
	sc := &rs.w.sc
	shape := sc.Shapes[a.shape]
	req := Request{
		Request: placement.Request{Team: rs.w.teams[a.team], Template: sc.Template, Runtime: sc.Runtime,
			Resources: shape.Resources(), Location: placement.Location{Coord: rs.w.net.popCoord[a.pop]}, Seed: a.seed},
		Population: sc.Populations[a.pop].Name,
		Region:     rs.w.homes[a.pop],
	}
	rs.res.Requests++
	t0 := time.Now()
	region, id, err := rs.p.Place(req, rs.c, rs.rng)
	rs.decide += time.Since(t0)
	var rejected *RejectedError
	if errors.As(err, &rejected) {
		rs.reject(a, shape)
		return nil
	}
	if err != nil {
		return err
	}
	n, ok := rs.c.Snapshot().Node(id)
	if !ok || n.Region != region {
		return fmt.Errorf("the policy chose node %q in region %q, which is not a node of that region", id, region)
	}
	if !rs.c.Fits(n, req.Resources) {
		return fmt.Errorf("the policy chose node %s, which has no room for %+v", id, req.Resources)
	}
	rtt := rs.w.net.popRTT[a.pop][rs.w.regionIx[region]]
	rs.regrets = append(rs.regrets, rtt-rs.oracle(a.pop, req.Resources, rtt))
	rs.rttSum += rtt
	rs.res.Accepted++

	warm := n.Warm[rs.c.pool] > 0
	rs.c.Snapshot().Reserve(id, req.Resources, rs.c.pool, req.Team)
	startFor := sc.Start.ColdSeconds
	if warm {
		rs.res.WarmHits++
		startFor = sc.Start.WarmSeconds
		rs.q.schedule(event{at: a.at + sc.Warm.RefillSeconds, kind: refilled, node: n})
	}
	rs.q.schedule(event{at: a.at + startFor, kind: started, node: n, res: req.Resources, team: req.Team})
	rs.q.schedule(event{at: a.at + startFor + a.lifetime, kind: departed, node: n, res: req.Resources, team: req.Team})
	return nil
}

// oracle is the least true round trip from population pop to a region
// that has a node with room for res now; chosen when there is none.
func (rs *runState) oracle(pop int, res placement.Resources, chosen float64) float64 {
	for _, ri := range rs.w.net.nearest[pop] {
		for _, n := range rs.c.Nodes(rs.w.sc.Regions[ri].Name) {
			if rs.c.Fits(n, res) {
				return rs.w.net.popRTT[pop][ri]
			}
		}
	}
	return chosen
}

// reject counts a rejection and, for the first, takes the measures.
func (rs *runState) reject(a *arrival, shape Shape) {
	rs.res.Rejected++
	if rs.res.FirstRejection != nil {
		return
	}
	cpu, mem := rs.c.utilisation()
	rs.res.FirstRejection = &FirstRejection{AtSeconds: a.at, Request: rs.res.Requests, Shape: shape.Name,
		CPU: cpu, Memory: mem}
}

// sample takes the measures taken once per simulated second.
func (rs *runState) sample() {
	rs.fragCommon += rs.c.fragmentation(rs.w.common.Resources())
	rs.fragLargest += rs.c.fragmentation(rs.w.largest.Resources())
	rs.samples++
}

// finish computes the rates and the regret's statistics.
func (rs *runState) finish() {
	r := &rs.res
	r.Fragmentation = Fragmentation{CommonShape: rs.w.common.Name, LargestShape: rs.w.largest.Name}
	if rs.samples > 0 {
		r.Fragmentation.Common = rs.fragCommon / float64(rs.samples)
		r.Fragmentation.Largest = rs.fragLargest / float64(rs.samples)
	}
	if r.Requests > 0 {
		r.RejectionRate = float64(r.Rejected) / float64(r.Requests)
	}
	if r.Accepted > 0 {
		r.WarmHitRate = float64(r.WarmHits) / float64(r.Accepted)
		r.RTTMeanMs = rs.rttSum / float64(r.Accepted)
		var sum float64
		for _, g := range rs.regrets {
			sum += g
		}
		r.RegretMeanMs = sum / float64(len(rs.regrets))
		slices.Sort(rs.regrets)
		r.RegretP99Ms = quantile(rs.regrets, 0.99)
	}
	if s := rs.decide.Seconds(); s > 0 {
		r.DecisionsPerSecond = float64(r.Requests) / s
	}
}
