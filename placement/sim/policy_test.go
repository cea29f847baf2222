package sim

import (
	"math/rand/v2"
	"testing"
)

// Two nodes of 2 vCPUs and 2 GiB, requests of 1 vCPU and 512 MB, far more
// of them than fit: every policy rejects, and since a request fits any
// node with a vCPU free, the first rejection comes when all 4 vCPUs and
// so half the memory are taken, whichever the policy.
func TestExhaustedCapacity(t *testing.T) {
	sc := oneRegion([]NodeGroup{{Count: 2, VCPUs: 2, MemoryMB: 2048, DiskMB: 10240}},
		Shape{Name: "one", VCPUs: 1, MemoryMB: 512, DiskMB: 512}, 1)
	sc.DurationSeconds = 60
	sc.MeanLifetimeSeconds = 10
	sc.Ramp = Ramp{From: 0.5, To: 4}
	rep, err := Compare(sc, allPolicies()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		f := r.FirstRejection
		if r.Rejected == 0 || f == nil {
			t.Errorf("%s: %d rejected, first rejection %v: 4 slots cannot hold ~10 to 40 sandboxes", r.Policy, r.Rejected, f)
			continue
		}
		if f.CPU != 1 || f.Memory != 0.5 {
			t.Errorf("%s: utilisation at the first rejection cpu %g, memory %g; want 1 and 0.5", r.Policy, f.CPU, f.Memory)
		}
		if r.RejectionRate <= 0 || r.RejectionRate >= 1 {
			t.Errorf("%s: rejection rate %g", r.Policy, r.RejectionRate)
		}
		if r.RegretMeanMs != 0 {
			t.Errorf("%s: regret %g ms with a single region", r.Policy, r.RegretMeanMs)
		}
	}
}

// Built to defeat CPU-only scoring: 4 nodes with 32 vCPUs but 8 GiB (one
// 6 GiB request fills their memory) and 8 with 8 vCPUs and 64 GiB, which
// hold every request at this load (64 at once against a mean of 30).
// E2B-like takes the node with the most free CPU among 3 drawn: while the
// CPU-rich nodes hold a sandbox each, any draw that includes one of them
// (3 draws in 4) picks it and it refuses, so about 0.75³ ≈ 40% of
// requests fail all 3 attempts (a little less over the run, as departures
// free those nodes now and then). Ours checks memory and rejects nothing.
func TestE2BCPUOnlyScoringRejectsMemoryHeavy(t *testing.T) {
	sc := oneRegion([]NodeGroup{
		{Count: 4, VCPUs: 32, MemoryMB: 8 << 10, DiskMB: 100 << 10},
		{Count: 8, VCPUs: 8, MemoryMB: 64 << 10, DiskMB: 100 << 10},
	}, Shape{Name: "memory-heavy", VCPUs: 1, MemoryMB: 6 << 10, DiskMB: 1 << 10}, 1)
	rep, err := Compare(sc, Ours{}, E2BLike{})
	if err != nil {
		t.Fatal(err)
	}
	r := byPolicy(rep.Results)
	ours, e2b := r["ours"], r["e2b"]
	if ours.Rejected != 0 {
		t.Errorf("ours rejected %d of %d requests, with room on the memory-rich nodes", ours.Rejected, ours.Requests)
	}
	if e2b.RejectionRate < 0.2 {
		t.Errorf("e2b rejected %.1f%% of requests; CPU-only scoring should lose about 40%%", 100*e2b.RejectionRate)
	}
	if f := e2b.FirstRejection; f == nil || f.CPU > 0.5 || f.Memory > 0.5 {
		t.Errorf("e2b's first rejection %+v: it should come with most of the cluster free", f)
	}
}

// E2B-like draws from the region the client names only.
func TestE2BStaysInNamedRegion(t *testing.T) {
	sc := DefaultScenario()
	w, err := prepare(sc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster(&w.sc, w.net)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	req := Request{Region: "sa-east"}
	req.Resources = sc.Shapes[0].Resources()
	for range 100 {
		region, id, err := E2BLike{}.Place(req, c, rng)
		if err != nil || region != "sa-east" {
			t.Fatalf("placed in %s (%s), %v; want sa-east", region, id, err)
		}
	}
	// Random, on the other hand, goes everywhere.
	seen := map[string]bool{}
	for range 200 {
		region, _, err := Random{}.Place(req, c, rng)
		if err != nil {
			t.Fatal(err)
		}
		seen[region] = true
	}
	if len(seen) != len(sc.Regions) {
		t.Errorf("random placed in %d regions of %d", len(seen), len(sc.Regions))
	}
}

func TestParsePolicies(t *testing.T) {
	ps, err := ParsePolicies("ours, e2b,random")
	if err != nil || len(ps) != 3 || ps[0].Name() != "ours" || ps[1].Name() != "e2b" || ps[2].Name() != "random" {
		t.Fatalf("ParsePolicies: %v, %v", ps, err)
	}
	for _, bad := range []string{"", "ours,nomad", ","} {
		if _, err := ParsePolicies(bad); err == nil {
			t.Errorf("ParsePolicies(%q) accepted", bad)
		}
	}
}
