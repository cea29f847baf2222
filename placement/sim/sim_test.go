package sim

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// The default scenario is compared once and shared by the tests that
// read it.
func compareDefault(t *testing.T) Report {
	t.Helper()
	rep, err := Compare(DefaultScenario(), allPolicies()...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func withoutWallTime(rs []Result) []Result {
	out := append([]Result(nil), rs...)
	for i := range out {
		out[i].DecisionsPerSecond = 0
	}
	return out
}

func TestSameSeedSameResults(t *testing.T) {
	sc := DefaultScenario()
	sc.DurationSeconds = 300 // the ramp still spans the run: rejections happen
	a, err := Compare(sc, allPolicies()...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compare(sc, allPolicies()...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutWallTime(a.Results), withoutWallTime(b.Results)) || a.Vivaldi != b.Vivaldi {
		t.Fatalf("same seed, different results:\n%+v\n%+v", a.Results, b.Results)
	}
	// Run alone gives what Compare gave.
	ours, err := Run(sc, Ours{})
	if err != nil {
		t.Fatal(err)
	}
	if got := withoutWallTime([]Result{ours}); !reflect.DeepEqual(got[0], withoutWallTime(a.Results)[0]) {
		t.Fatalf("Run and Compare differ:\n%+v\n%+v", got[0], a.Results[0])
	}
	for _, r := range a.Results {
		if r.Rejected == 0 || r.Accepted == 0 {
			t.Errorf("%s: %d accepted, %d rejected: the shortened ramp should still overload the cluster", r.Policy, r.Accepted, r.Rejected)
		}
	}
	// Another seed draws another workload.
	sc.Seed++
	c, err := Compare(sc, Ours{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Requests == a.Requests && reflect.DeepEqual(withoutWallTime(c.Results), withoutWallTime(a.Results[:1])) {
		t.Fatal("another seed gave the same run")
	}
}

// On the default scenario ours must beat random on latency regret (random
// does not look at latency) and match it at least on warm hits (ours
// prefers nodes with a warm sandbox, random does not look; the default
// warm pools refill faster, region by region, than the peak demand of
// the clients nearest, so concentrating on the nearest region does not
// drain them).
func TestDefaultOursBeatsRandom(t *testing.T) {
	rep := compareDefault(t)
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	r := byPolicy(rep.Results)
	ours, random, e2b := r["ours"], r["random"], r["e2b"]
	if !(ours.RegretMeanMs < random.RegretMeanMs) {
		t.Errorf("regret: ours %.2f ms, random %.2f ms: ours should be lower", ours.RegretMeanMs, random.RegretMeanMs)
	}
	if !(ours.RegretP99Ms <= random.RegretP99Ms) {
		t.Errorf("p99 regret: ours %.2f ms, random %.2f ms", ours.RegretP99Ms, random.RegretP99Ms)
	}
	if !(ours.WarmHitRate >= random.WarmHitRate) {
		t.Errorf("warm hit rate: ours %.3f, random %.3f: ours should be at least as high", ours.WarmHitRate, random.WarmHitRate)
	}
	for _, res := range rep.Results {
		if res.Requests != rep.Requests || res.Accepted+res.Rejected != res.Requests {
			t.Errorf("%s: %d requests, %d accepted, %d rejected, of %d drawn", res.Policy, res.Requests, res.Accepted, res.Rejected, rep.Requests)
		}
		if res.RegretMeanMs < 0 || res.RegretP99Ms < 0 {
			t.Errorf("%s: regret mean %g, p99 %g", res.Policy, res.RegretMeanMs, res.RegretP99Ms)
		}
		f := res.FirstRejection
		if f == nil {
			t.Errorf("%s: no rejection, though the ramp ends at 1.4 times what the CPU can hold", res.Policy)
			continue
		}
		if f.CPU < 0 || f.CPU > 1 || f.Memory < 0 || f.Memory > 1 {
			t.Errorf("%s: utilisation at the first rejection %+v, outside [0, 1]", res.Policy, f)
		}
	}
	// E2B keeps each client in its named region: it rejects while other
	// regions have room, so at a lower utilisation than ours, which falls
	// back to them.
	if ours.FirstRejection != nil && e2b.FirstRejection != nil && !(e2b.FirstRejection.CPU < ours.FirstRejection.CPU) {
		t.Errorf("first rejection: e2b at %.3f CPU, ours at %.3f: e2b should reject first", e2b.FirstRejection.CPU, ours.FirstRejection.CPU)
	}
	if !strings.Contains(table.String(), "regret mean ms") {
		t.Errorf("table without its header:\n%s", table.String())
	}
}
