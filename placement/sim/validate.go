package sim

import (
	"errors"
	"fmt"
	"math"
)

// Validate says what is wrong with a scenario, all of it at once.
func (sc *Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	positive := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			bad("%s is %g: it must be a positive number", name, v)
		}
	}
	nonNegative := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			bad("%s is %g: it must be 0 or more", name, v)
		}
	}
	positive("durationSeconds", sc.DurationSeconds)
	positive("meanLifetimeSeconds", sc.MeanLifetimeSeconds)
	nonNegative("ramp.from", sc.Ramp.From)
	nonNegative("ramp.to", sc.Ramp.To)
	if sc.Ramp.From == 0 && sc.Ramp.To == 0 {
		bad("ramp is 0 from start to end: no request would arrive")
	}
	if sc.Template == "" {
		bad("template is empty")
	}
	if sc.Teams < 1 {
		bad("teams is %d: it must be 1 or more", sc.Teams)
	}
	regions := map[string]bool{}
	if len(sc.Regions) == 0 {
		bad("no regions")
	}
	for i, r := range sc.Regions {
		if r.Name == "" || regions[r.Name] {
			bad("regions[%d]: the name %q is empty or repeated", i, r.Name)
		}
		regions[r.Name] = true
		for j, g := range r.Nodes {
			at := fmt.Sprintf("regions[%d] (%s) nodes[%d]", i, r.Name, j)
			if g.Count < 0 || g.VCPUs <= 0 || g.MemoryMB <= 0 || g.DiskMB <= 0 {
				bad("%s: count must be 0 or more and vcpus, memoryMB and diskMB positive", at)
			}
		}
	}
	if sc.Nodes() == 0 {
		bad("no nodes in any region")
	}
	if sc.DefaultRegion != "" && !regions[sc.DefaultRegion] {
		bad("defaultRegion %q is not a region", sc.DefaultRegion)
	}
	var rate float64
	pops := map[string]bool{}
	for i, p := range sc.Populations {
		if p.Name == "" || pops[p.Name] {
			bad("populations[%d]: the name %q is empty or repeated", i, p.Name)
		}
		pops[p.Name] = true
		if p.Home != "" && !regions[p.Home] {
			bad("populations[%d] (%s): home %q is not a region", i, p.Name, p.Home)
		}
		nonNegative(fmt.Sprintf("populations[%d] (%s) ratePerSecond", i, p.Name), p.RatePerSecond)
		rate += p.RatePerSecond
	}
	if !(rate > 0) {
		bad("the populations' rates add up to %g: no request would arrive", rate)
	}
	var weight float64
	for i, s := range sc.Shapes {
		if s.VCPUs <= 0 || s.MemoryMB <= 0 || s.DiskMB < 0 || !(s.Weight >= 0) {
			bad("shapes[%d] (%s): vcpus and memoryMB must be positive, diskMB and weight 0 or more", i, s.Name)
		}
		weight += s.Weight
	}
	if !(weight > 0) {
		bad("the shapes' weights add up to %g: there is no request shape", weight)
	}
	if sc.Warm.SlotsPerNode < 0 {
		bad("warm.slotsPerNode is %d: it must be 0 or more", sc.Warm.SlotsPerNode)
	}
	if sc.Warm.SlotsPerNode > 0 {
		positive("warm.refillSeconds", sc.Warm.RefillSeconds)
	}
	nonNegative("start.coldSeconds", sc.Start.ColdSeconds)
	nonNegative("start.warmSeconds", sc.Start.WarmSeconds)
	nonNegative("network.jitterMs", sc.Network.JitterMs)
	nonNegative("network.minRTTMs", sc.Network.MinRTTMs)
	if sc.Network.VivaldiRounds < 1 {
		bad("network.vivaldiRounds is %d: it must be 1 or more", sc.Network.VivaldiRounds)
	}
	if !(sc.Network.NoiseFraction >= 0 && sc.Network.NoiseFraction < 1) {
		bad("network.noiseFraction is %g: it must be in [0, 1)", sc.Network.NoiseFraction)
	}
	if err := sc.Placement.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if n := rate * max(sc.Ramp.From, sc.Ramp.To) * sc.DurationSeconds; n > maxExpectedArrivals {
			bad("about %.0f requests would arrive: more than the %d a run allows; shorten the run or lower the rates", n, maxExpectedArrivals)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid scenario: %w", errors.Join(errs...))
	}
	return nil
}
