package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// arrival is one request of the workload. The workload is drawn once per
// scenario, so every policy sees the same requests at the same times.
type arrival struct {
	at       float64 // seconds since the start
	pop      int
	shape    int
	lifetime float64 // seconds, from the end of the start
	team     int
	seed     uint64 // placement.Request.Seed
}

// drawArrivals draws the arrivals of the whole run: a Poisson process of
// rate Σ rate × ramp(t), by thinning one of the ramp's peak rate, each
// arrival from a population in proportion to its rate.
func drawArrivals(sc *Scenario, rng *rand.Rand) []arrival {
	var total float64
	popCum := make([]float64, len(sc.Populations))
	for i, p := range sc.Populations {
		total += p.RatePerSecond
		popCum[i] = total
	}
	var wsum float64
	shapeCum := make([]float64, len(sc.Shapes))
	for i, s := range sc.Shapes {
		wsum += s.Weight
		shapeCum[i] = wsum
	}
	peak := max(sc.Ramp.From, sc.Ramp.To)
	lambda := total * peak
	var out []arrival
	for t := rng.ExpFloat64() / lambda; t < sc.DurationSeconds; t += rng.ExpFloat64() / lambda {
		if rng.Float64()*peak >= sc.Ramp.At(t, sc.DurationSeconds) {
			continue
		}
		out = append(out, arrival{
			at:       t,
			pop:      pick(popCum, rng.Float64()*total),
			shape:    pick(shapeCum, rng.Float64()*wsum),
			lifetime: rng.ExpFloat64() * sc.MeanLifetimeSeconds,
			team:     rng.IntN(sc.Teams),
			seed:     rng.Uint64(),
		})
	}
	return out
}

// pick is the first index whose cumulative weight exceeds x, skipping
// zero weights.
func pick(cum []float64, x float64) int {
	i := sort.Search(len(cum), func(i int) bool { return cum[i] > x })
	return min(i, len(cum)-1)
}

// teamNames are the team names requests carry.
func teamNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("team-%02d", i)
	}
	return names
}
