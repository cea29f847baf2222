package vivaldi

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// rounds of observations the convergence tests run: every estimator
// observes every peer once a round. Serf's own performance tests run 1000
// cycles of one observation each; with three to five peers a round, 300
// rounds are 900 to 1200 observations per estimator. Simulating this
// triangle 200 times, the worst error was 22% after 100 rounds, 8% after
// 200 and it does not grow after that: 300 leaves a margin.
const rounds = 300

// tolerance is how far an estimate may be from the truth, relative.
const tolerance = 0.20

func newEstimators(t *testing.T, n int) []*Estimator {
	t.Helper()
	es := make([]*Estimator, n)
	for i := range es {
		e, err := New()
		if err != nil {
			t.Fatal(err)
		}
		es[i] = e
	}
	return es
}

// simulate runs rounds in which estimator i observes every j with
// observe(i, j) true at truth(i, j) plus up to 3% of noise.
func simulate(t *testing.T, es []*Estimator, n int, truth func(i, j int) time.Duration, observe func(i, j int) bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		for i := range es {
			for j := range es {
				if i == j || !observe(i, j) {
					continue
				}
				rtt := time.Duration(float64(truth(i, j)) * (1 + 0.03*rng.Float64()))
				if err := es[i].Observe(fmt.Sprint("peer-", j), es[j].Coordinate(), rtt); err != nil {
					t.Fatalf("observe %d→%d: %v", i, j, err)
				}
			}
		}
	}
}

func within(got, want time.Duration) bool {
	return math.Abs(float64(got-want))/float64(want) <= tolerance
}

// TestTriangleConverges: three estimators observing each other at fixed
// round trips of 30, 80 and 120 ms (which even breaks the triangle
// inequality: serf's adjustment term absorbs it) estimate every round
// trip within 20%; before settling they estimate nothing.
func TestTriangleConverges(t *testing.T) {
	truth := [3][3]time.Duration{{0, ms(30), ms(80)}, {ms(30), 0, ms(120)}, {ms(80), ms(120), 0}}
	es := newEstimators(t, 3)
	if d, ok := es[0].DistanceTo(es[1].Coordinate()); ok {
		t.Fatalf("new estimators estimate %v", d)
	}
	simulate(t, es, rounds, func(i, j int) time.Duration { return truth[i][j] }, func(int, int) bool { return true })
	for i := range es {
		for j := range es {
			if i == j {
				continue
			}
			got, ok := es[i].DistanceTo(es[j].Coordinate())
			if !ok || !within(got, truth[i][j]) {
				t.Errorf("%d→%d: estimated %v (%v), want %v ± %.0f%% (coordinates %+v, %+v)",
					i, j, got, ok, truth[i][j], tolerance*100, es[i].Coordinate(), es[j].Coordinate())
			}
		}
	}
}

// TestRegionsConverge: regions wa (three servers), wb and wc (one each),
// whose servers observe the other regions' servers only, as federation's
// probes do: from every server, the distance to a region's coordinate in
// a Book (the median of its servers') is within 20% of the round trip.
func TestRegionsConverge(t *testing.T) {
	region := []string{"wa", "wa", "wa", "wb", "wc"}
	between := map[[2]string]time.Duration{{"wa", "wb"}: ms(30), {"wa", "wc"}: ms(80), {"wb", "wc"}: ms(120)}
	rtt := func(a, b string) time.Duration {
		if d, ok := between[[2]string{a, b}]; ok {
			return d
		}
		return between[[2]string{b, a}]
	}
	es := newEstimators(t, len(region))
	simulate(t, es, rounds, func(i, j int) time.Duration { return rtt(region[i], region[j]) + ms(1) },
		func(i, j int) bool { return region[i] != region[j] })
	now := time.Now()
	var book Book
	for j, e := range es {
		book.Put(region[j], fmt.Sprint("peer-", j), e.Coordinate(), now)
	}
	for i, e := range es {
		for _, o := range []string{"wa", "wb", "wc"} {
			if o == region[i] {
				continue
			}
			c, ok := book.Region(o, now)
			if !ok {
				t.Fatalf("no coordinate for %s", o)
			}
			got, ok := e.DistanceTo(c)
			if want := rtt(region[i], o); !ok || !within(got, want) {
				t.Errorf("server %d of %s → %s: estimated %v (%v), want %v ± %.0f%%", i, region[i], o, got, ok, want, tolerance*100)
			}
		}
	}
}

// TestObserveRejects: bad measurements are refused with ErrRejected and
// leave the coordinate as it was; a nil Estimator is off.
func TestObserveRejects(t *testing.T) {
	e := newEstimators(t, 1)[0]
	peer := newEstimators(t, 1)[0].Coordinate()
	peer.Vec[0] = 0.01
	if err := e.Observe("p", peer, ms(10)); err != nil {
		t.Fatal(err)
	}
	before := e.Coordinate()
	twoDims := &coordinate.Coordinate{Vec: []float64{0.01, 0.02}, Height: 1e-5}
	nan := peer.Clone()
	nan.Vec[1] = math.NaN()
	for name, obs := range map[string]struct {
		c   *coordinate.Coordinate
		rtt time.Duration
	}{
		"nil coordinate":        {nil, ms(10)},
		"other dimensionality":  {twoDims, ms(10)},
		"invalid coordinate":    {nan, ms(10)},
		"zero round trip":       {peer, 0},
		"negative round trip":   {peer, -ms(1)},
		"round trip over limit": {peer, MaxRTT + time.Millisecond},
	} {
		if err := e.Observe("p", obs.c, obs.rtt); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	if after := e.Coordinate(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rejected observations moved the coordinate: %+v → %+v", before, after)
	}
	if _, ok := e.DistanceTo(twoDims); ok {
		t.Error("a distance to a coordinate of other dimensions")
	}

	var off *Estimator
	if off.Coordinate() != nil || off.Observe("p", peer, ms(10)) != nil {
		t.Error("a nil Estimator is not off")
	}
	if _, ok := off.DistanceTo(peer); ok {
		t.Error("a nil Estimator estimates")
	}
}

// TestCoordinateIsACopy: changing what Coordinate returned does not move
// the estimator.
func TestCoordinateIsACopy(t *testing.T) {
	e := newEstimators(t, 1)[0]
	c := e.Coordinate()
	c.Vec[0] = 42
	if e.Coordinate().Vec[0] == 42 {
		t.Fatal("Coordinate returned the estimator's own coordinate")
	}
}

func TestEncodeDecode(t *testing.T) {
	c := &coordinate.Coordinate{Vec: []float64{0.001, -0.002, 0.003}, Error: 0.1, Adjustment: -0.0005, Height: 0.0001}
	got, err := Decode(Encode(c))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, c)
	}
	if b := Encode(nil); b != nil {
		t.Errorf("Encode(nil) = %q", b)
	}
	if got, err := Decode(nil); got != nil || err != nil {
		t.Errorf("Decode(nil) = %+v, %v", got, err)
	}
	if got, err := Decode([]byte{}); got != nil || err != nil {
		t.Errorf("Decode(empty) = %+v, %v", got, err)
	}
	for _, bad := range []string{"garbage", `{"Vec": "x"}`, `{}`, `{"Vec": []}`, `[1, 2]`} {
		if got, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) = %+v, want an error", bad, got)
		}
	}
}
