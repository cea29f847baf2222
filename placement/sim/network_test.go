package sim

import (
	"math/rand/v2"
	"testing"
)

// The coordinates the pings teach must estimate the true round trips
// well, and place every population nearest its home region, which is
// ~10 ms away against 60 ms or more for any other: what placement needs
// from them.
func TestVivaldiConverges(t *testing.T) {
	sc := DefaultScenario()
	net, err := buildNetwork(&sc, rand.New(rand.NewPCG(sc.Seed, streamNetwork)))
	if err != nil {
		t.Fatal(err)
	}
	st := net.stats()
	t.Logf("%+v", st)
	if st.Pairs != 10+7*5 {
		t.Errorf("%d pairs, want 45", st.Pairs)
	}
	if st.MedianRelError > 0.15 {
		t.Errorf("median relative error %.3f, want under 0.15", st.MedianRelError)
	}
	for p, pop := range sc.Populations {
		if pop.Home == "" {
			continue
		}
		best, bestMs := "", 0.0
		for r, reg := range sc.Regions {
			ms := net.popCoord[p].DistanceTo(net.regionCoord[r]).Seconds() * 1000
			if best == "" || ms < bestMs {
				best, bestMs = reg.Name, ms
			}
		}
		if best != pop.Home {
			t.Errorf("%s: nearest region by its coordinate is %s, its home is %s", pop.Name, best, pop.Home)
		}
	}
	// A few rounds only leave the coordinates far off: the test measures.
	sc.Network.VivaldiRounds = 1
	rough, err := buildNetwork(&sc, rand.New(rand.NewPCG(sc.Seed, streamNetwork)))
	if err != nil {
		t.Fatal(err)
	}
	if rs := rough.stats(); rs.MedianRelError <= st.MedianRelError {
		t.Errorf("1 round: median error %.3f, no worse than %d rounds' %.3f", rs.MedianRelError, DefaultScenario().Network.VivaldiRounds, st.MedianRelError)
	}
}

// The true round trips follow the plane: symmetric, at least the
// distance, at most the distance plus the jitter.
func TestTrueRTT(t *testing.T) {
	sc := DefaultScenario()
	net, err := buildNetwork(&sc, rand.New(rand.NewPCG(sc.Seed, streamNetwork)))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range sc.Regions {
		for j, b := range sc.Regions {
			if i == j {
				continue
			}
			d := dist(a.X, a.Y, b.X, b.Y)
			if got := net.regionRTT[i][j]; got != net.regionRTT[j][i] || got < d || got > d+sc.Network.JitterMs {
				t.Errorf("%s→%s: %g ms, distance %g", a.Name, b.Name, got, d)
			}
		}
	}
	for p, pop := range sc.Populations {
		if near := sc.Regions[net.nearest[p][0]].Name; pop.Home != "" && near != pop.Home {
			t.Errorf("%s: nearest region %s, home %s", pop.Name, near, pop.Home)
		}
	}
}
