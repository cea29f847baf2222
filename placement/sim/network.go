package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// network is the truth about round trips, which only the oracle and the
// metrics see, and the Vivaldi coordinates learnt from noisy pings of it,
// which are all placement sees.
type network struct {
	regionRTT   [][]float64 // region × region, true ms
	popRTT      [][]float64 // population × region, true ms
	regionCoord []*coordinate.Coordinate
	popCoord    []*coordinate.Coordinate
	// nearest lists, per population, the region indexes by true round
	// trip, nearest first (ties by index).
	nearest [][]int
}

// VivaldiStats is how well the learnt coordinates estimate the true round
// trips, over every region→region and population→region pair: the
// relative error |estimate − truth| / truth.
type VivaldiStats struct {
	Pairs          int     `json:"pairs"`
	MedianRelError float64 `json:"medianRelError"`
	P90RelError    float64 `json:"p90RelError"`
	MaxRelError    float64 `json:"maxRelError"`
}

// buildNetwork draws the true round trips and trains the coordinates.
func buildNetwork(sc *Scenario, rng *rand.Rand) (*network, error) {
	nr, np := len(sc.Regions), len(sc.Populations)
	// Places: the regions, then the populations.
	xy := make([][2]float64, 0, nr+np)
	for _, r := range sc.Regions {
		xy = append(xy, [2]float64{r.X, r.Y})
	}
	for _, p := range sc.Populations {
		xy = append(xy, [2]float64{p.X, p.Y})
	}
	rtt := make([][]float64, len(xy))
	for i := range rtt {
		rtt[i] = make([]float64, len(xy))
	}
	for i := range xy {
		for j := i + 1; j < len(xy); j++ {
			d := math.Hypot(xy[i][0]-xy[j][0], xy[i][1]-xy[j][1]) + rng.Float64()*sc.Network.JitterMs
			d = max(d, sc.Network.MinRTTMs, 0.1)
			rtt[i][j], rtt[j][i] = d, d
		}
	}
	net := &network{regionRTT: make([][]float64, nr), popRTT: make([][]float64, np), nearest: make([][]int, np)}
	for i := range nr {
		net.regionRTT[i] = rtt[i][:nr]
	}
	for p := range np {
		net.popRTT[p] = rtt[nr+p][:nr]
		order := make([]int, nr)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(net.popRTT[p][a], net.popRTT[p][b]) })
		net.nearest[p] = order
	}
	coords, err := trainVivaldi(sc, rng, rtt)
	if err != nil {
		return nil, err
	}
	net.regionCoord, net.popCoord = coords[:nr], coords[nr:]
	return net, nil
}

// trainVivaldi runs the pings: each round every region pings a random
// other region (as servers do over the WAN) and every population a
// random region (as a client measures the regions' servers), and feeds
// the noisy round trip to its coordinate.Client, as production does.
func trainVivaldi(sc *Scenario, rng *rand.Rand, rtt [][]float64) ([]*coordinate.Coordinate, error) {
	nr := len(sc.Regions)
	cfg := coordinate.DefaultConfig()
	clients := make([]*coordinate.Client, len(rtt))
	for i := range clients {
		c, err := coordinate.NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("vivaldi: %w", err)
		}
		// Start every coordinate a little apart and off the origin: from
		// coincident points the package picks a direction with the global
		// math/rand, and the run would not be repeatable.
		start := coordinate.NewCoordinate(cfg)
		for d := range start.Vec {
			start.Vec[d] = (rng.Float64() - 0.5) * 1e-3
		}
		if err := c.SetCoordinate(start); err != nil {
			return nil, fmt.Errorf("vivaldi: %w", err)
		}
		clients[i] = c
	}
	ping := func(i, j int) error {
		noise := 1 + sc.Network.NoiseFraction*(2*rng.Float64()-1)
		sample := time.Duration(rtt[i][j] * noise * float64(time.Millisecond))
		if _, err := clients[i].Update(fmt.Sprint(j), clients[j].GetCoordinate(), sample); err != nil {
			return fmt.Errorf("vivaldi: ping %d→%d: %w", i, j, err)
		}
		return nil
	}
	for range sc.Network.VivaldiRounds {
		for i := range nr {
			if nr < 2 {
				break
			}
			j := rng.IntN(nr - 1)
			if j >= i {
				j++
			}
			if err := ping(i, j); err != nil {
				return nil, err
			}
		}
		for i := nr; i < len(rtt); i++ {
			if err := ping(i, rng.IntN(nr)); err != nil {
				return nil, err
			}
		}
	}
	coords := make([]*coordinate.Coordinate, len(clients))
	for i, c := range clients {
		coords[i] = c.GetCoordinate()
	}
	return coords, nil
}

// stats compares the coordinates' estimates with the truth.
func (net *network) stats() VivaldiStats {
	var errs []float64
	rel := func(a, b *coordinate.Coordinate, truth float64) {
		est := a.DistanceTo(b).Seconds() * 1000
		errs = append(errs, math.Abs(est-truth)/truth)
	}
	for i := range net.regionCoord {
		for j := i + 1; j < len(net.regionCoord); j++ {
			rel(net.regionCoord[i], net.regionCoord[j], net.regionRTT[i][j])
		}
	}
	for p := range net.popCoord {
		for r := range net.regionCoord {
			rel(net.popCoord[p], net.regionCoord[r], net.popRTT[p][r])
		}
	}
	slices.Sort(errs)
	return VivaldiStats{Pairs: len(errs), MedianRelError: quantile(errs, 0.5),
		P90RelError: quantile(errs, 0.9), MaxRelError: quantile(errs, 1)}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// quantile is the nearest-rank q-quantile of sorted values; 0 when there
// are none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}
