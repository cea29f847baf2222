package nomad

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/codeint/codeint/controlplane/nomad/nomadtest"
)

var testPolicy = Policy{
	Job: testJob, Group: testGroup,
	Min: 1, Max: 5,
	ScaleUpBelow: 0.2, ScaleDownAbove: 0.6,
	Step: 1, Cooldown: 5 * time.Minute,
}

var t0 = time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)

// capacity is a region of n nodes of 16 vCPUs and 64 GiB each, with the
// given free fractions of CPU and memory.
func capacity(n int, freeCPU, freeMem float64) Capacity {
	return Capacity{
		Region:        testRegion,
		Nodes:         n,
		TotalVCPUs:    float64(16 * n),
		FreeVCPUs:     16 * float64(n) * freeCPU,
		TotalMemoryMB: 65536 * n,
		FreeMemoryMB:  int(65536 * float64(n) * freeMem),
	}
}

func TestDecide(t *testing.T) {
	with := func(f func(p *Policy)) Policy { p := testPolicy; f(&p); return p }
	cases := []struct {
		name       string
		p          Policy
		current    int
		c          Capacity
		lastChange time.Time
		want       int
		reason     string // a part of the reason
	}{
		{"CPU short: up", testPolicy, 3, capacity(3, 0.1, 0.5), time.Time{}, 4, "under 20%: adding 1 node (3 to 4)"},
		{"memory short: up", testPolicy, 3, capacity(3, 0.5, 0.15), time.Time{}, 4, "memory 15%"},
		{"step 2", with(func(p *Policy) { p.Step = 2 }), 2, capacity(2, 0.1, 0.1), time.Time{}, 4, "adding 2 nodes"},
		{"step 0 is 1", with(func(p *Policy) { p.Step = 0 }), 2, capacity(2, 0.1, 0.1), time.Time{}, 3, "adding 1 node"},
		{"step clamped at max", with(func(p *Policy) { p.Step = 3 }), 4, capacity(4, 0.1, 0.1), time.Time{}, 5, "(4 to 5)"},
		{"at max: kept", testPolicy, 5, capacity(5, 0.05, 0.05), time.Time{}, 5, "at its maximum"},
		{"between thresholds: kept", testPolicy, 3, capacity(3, 0.4, 0.3), time.Time{}, 3, "between 20% and 60%"},
		{"idle: down", testPolicy, 4, capacity(4, 0.75, 0.8), time.Time{}, 3, "removing 1 node (4 to 3), which leaves about 67% free"},
		{"down by the smaller fraction only", testPolicy, 4, capacity(4, 0.9, 0.5), time.Time{}, 4, "between"},
		{"at min: kept", testPolicy, 1, capacity(1, 0.95, 0.95), time.Time{}, 1, "at its minimum"},
		{"step clamped at min", with(func(p *Policy) { p.Step = 3 }), 3, capacity(3, 0.9, 0.9), time.Time{}, 1, "removing 2 nodes (3 to 1)"},
		{
			"hysteresis: down would go under the up threshold",
			with(func(p *Policy) { p.ScaleUpBelow, p.ScaleDownAbove = 0.3, 0.5 }),
			2, capacity(2, 0.55, 0.55), time.Time{}, 2, "would leave 10% free, under 30%",
		},
		{
			"hysteresis: a step of 2 would leave too little",
			with(func(p *Policy) { p.Step = 2 }),
			3, capacity(3, 0.65, 0.65), time.Time{}, 3, "would leave 0% free",
		},
		{
			"hysteresis: no node would be left",
			with(func(p *Policy) { p.Min, p.ScaleUpBelow = 0, 0 }),
			1, capacity(1, 0.9, 0.9), time.Time{}, 1, "would leave no ready node",
		},
		{"cooldown: kept", testPolicy, 3, capacity(3, 0.05, 0.05), t0.Add(-time.Minute), 3, "within the 5m0s cooldown"},
		{"cooldown over: up", testPolicy, 3, capacity(3, 0.05, 0.05), t0.Add(-6 * time.Minute), 4, "adding 1 node"},
		{"under min, even in cooldown", testPolicy, 0, capacity(0, 0, 0), t0.Add(-time.Second), 1, "under the minimum of 1"},
		{"over max, even in cooldown", testPolicy, 8, capacity(8, 0.1, 0.1), t0.Add(-time.Second), 5, "over the maximum of 5"},
		{"no ready node counts as 0 free", testPolicy, 2, Capacity{Region: testRegion}, time.Time{}, 3, "No ready node reports capacity: adding 1 node (2 to 3)"},
		{"no memory counts as 0 free", testPolicy, 2, Capacity{Region: testRegion, Nodes: 2, TotalVCPUs: 32, FreeVCPUs: 30}, time.Time{}, 3, "No ready node reports capacity"},
		{
			"no ready node scales up even with no up threshold",
			with(func(p *Policy) { p.ScaleUpBelow = 0 }),
			2, Capacity{Region: testRegion}, time.Time{}, 3, "adding 1 node",
		},
		{"no ready node at max: kept", testPolicy, 5, Capacity{Region: testRegion}, time.Time{}, 5, "reports capacity, but the group is at its maximum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.p, c.current, c.c, t0, c.lastChange)
			if d.Region != testRegion || d.Current != c.current || d.Want != c.want {
				t.Errorf("Decide = %+v, want region %s, %d to %d", d, testRegion, c.current, c.want)
			}
			if !strings.Contains(d.Reason, c.reason) || !strings.HasSuffix(d.Reason, ".") {
				t.Errorf("reason %q, want a sentence with %q", d.Reason, c.reason)
			}
			if c.want >= c.p.Min && c.want <= c.p.Max && (d.Want < c.p.Min || d.Want > c.p.Max) {
				t.Errorf("Want %d outside [%d, %d]", d.Want, c.p.Min, c.p.Max)
			}
		})
	}
}

// TestDecideDoesNotFlap checks that a count Decide reaches by scaling
// down is not one it then wants to scale up from, for loads that stay.
func TestDecideDoesNotFlap(t *testing.T) {
	p := testPolicy
	p.Cooldown = 0
	for used := 0.5; used <= 20; used += 0.5 { // vCPUs in use, memory alike
		current := 5
		for range 10 {
			c := Capacity{Region: testRegion, Nodes: current,
				TotalVCPUs: float64(16 * current), TotalMemoryMB: 16384 * current}
			c.FreeVCPUs = max(c.TotalVCPUs-used, 0)
			c.FreeMemoryMB = max(c.TotalMemoryMB-int(used*1024), 0)
			d := Decide(p, current, c, t0, time.Time{})
			if d.Want > current && d.Current < 5 {
				// reaching here after a scale-down would be a flap
				t.Fatalf("load %.1f vCPUs: scaled down to %d, then up: %s", used, current, d.Reason)
			}
			if d.Want >= current {
				break
			}
			current = d.Want
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := testPolicy.Validate(); err != nil {
		t.Fatalf("valid policy: %v", err)
	}
	for name, f := range map[string]func(p *Policy){
		"no job":               func(p *Policy) { p.Job = "" },
		"no group":             func(p *Policy) { p.Group = "" },
		"min over max":         func(p *Policy) { p.Min, p.Max = 3, 2 },
		"negative min":         func(p *Policy) { p.Min = -1 },
		"up equal to down":     func(p *Policy) { p.ScaleUpBelow, p.ScaleDownAbove = 0.5, 0.5 },
		"up over down":         func(p *Policy) { p.ScaleUpBelow, p.ScaleDownAbove = 0.7, 0.6 },
		"negative up":          func(p *Policy) { p.ScaleUpBelow = -0.1 },
		"down over 1":          func(p *Policy) { p.ScaleDownAbove = 1.5 },
		"negative step":        func(p *Policy) { p.Step = -1 },
		"negative cooldown":    func(p *Policy) { p.Cooldown = -time.Second },
		"zero policy (no job)": func(p *Policy) { *p = Policy{} },
	} {
		p := testPolicy
		f(&p)
		err := p.Validate()
		if !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: Validate = %v, want ErrInvalidPolicy", name, err)
		}
	}
}

// newTestScaler returns a scaler on f whose clock the test moves.
func newTestScaler(t *testing.T, f *nomadtest.Server, p Policy) (*Scaler, *time.Time) {
	t.Helper()
	now := t0
	s := NewScaler(f.Client(), p, nil)
	s.now = func() time.Time { return now }
	return s, &now
}

func TestScalerScalesUp(t *testing.T) {
	f := nomadtest.New(t, testRegion)
	s, now := newTestScaler(t, f, testPolicy)
	short := capacity(3, 0.1, 0.4)

	d, err := s.Check(t.Context(), short)
	if err != nil {
		t.Fatal(err)
	}
	if d.Current != 3 || d.Want != 4 || d.Region != testRegion {
		t.Fatalf("Check = %+v, want 3 to 4 in %s", d, testRegion)
	}
	writes := f.Scales()
	if len(writes) != 1 {
		t.Fatalf("%d scale writes, want 1", len(writes))
	}
	w := writes[0]
	if w.Method != http.MethodPut && w.Method != http.MethodPost {
		t.Errorf("method %s", w.Method)
	}
	if w.Job != testJob || w.Region != testRegion {
		t.Errorf("wrote job %s in region %q", w.Job, w.Region)
	}
	if w.Body.Count == nil || *w.Body.Count != 4 {
		t.Errorf("count %v, want 4", w.Body.Count)
	}
	if w.Body.Target["Group"] != testGroup || w.Body.Target["Job"] != testJob {
		t.Errorf("target %v", w.Body.Target)
	}
	if w.Body.Message != d.Reason || w.Body.Error {
		t.Errorf("message %q (error %v), want the reason %q", w.Body.Message, w.Body.Error, d.Reason)
	}
	if w.Body.Meta["codeint_region"] != testRegion {
		t.Errorf("meta %v", w.Body.Meta)
	}

	// Within the cooldown nothing is written, though capacity is short.
	*now = now.Add(time.Minute)
	d, err = s.Check(t.Context(), short)
	if err != nil {
		t.Fatal(err)
	}
	if d.Current != 4 || d.Want != 4 || !strings.Contains(d.Reason, "cooldown") {
		t.Errorf("in cooldown: %+v", d)
	}
	if n := len(f.Scales()); n != 1 {
		t.Errorf("%d scale writes in cooldown, want 1", n)
	}

	// After it, the next step.
	*now = now.Add(5 * time.Minute)
	if d, err = s.Check(t.Context(), capacity(4, 0.1, 0.4)); err != nil || d.Want != 5 {
		t.Fatalf("after cooldown: %+v, %v", d, err)
	}
	if writes := f.Scales(); len(writes) != 2 || *writes[1].Body.Count != 5 {
		t.Errorf("writes %+v, want a second one to 5", writes)
	}
}

func TestScalerScalesDown(t *testing.T) {
	f := nomadtest.New(t, testRegion)
	f.SetDesired(4)
	s, _ := newTestScaler(t, f, testPolicy)
	d, err := s.Check(t.Context(), capacity(4, 0.8, 0.7))
	if err != nil {
		t.Fatal(err)
	}
	if d.Want != 3 {
		t.Fatalf("Check = %+v, want 4 to 3", d)
	}
	if writes := f.Scales(); len(writes) != 1 || *writes[0].Body.Count != 3 {
		t.Errorf("writes %+v, want one to 3", writes)
	}
}

func TestScalerKeepsCount(t *testing.T) {
	f := nomadtest.New(t, "") // no region: the agent's own
	s, _ := newTestScaler(t, f, testPolicy)
	c := capacity(3, 0.4, 0.4)
	c.Region = ""
	d, err := s.Check(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if d.Current != 3 || d.Want != 3 {
		t.Errorf("Check = %+v, want 3 kept", d)
	}
	if n := len(f.RequestsTo(http.MethodGet, "/v1/job/"+testJob+"/scale")); n != 1 {
		t.Errorf("%d status reads, want 1", n)
	}
	if writes := f.Scales(); len(writes) != 0 {
		t.Errorf("writes %+v, want none", writes)
	}
}

func TestScalerLeavesStoppedJob(t *testing.T) {
	f := nomadtest.New(t, testRegion)
	f.SetJobStopped(true)
	s, _ := newTestScaler(t, f, testPolicy)
	d, err := s.Check(t.Context(), capacity(3, 0.05, 0.05))
	if err != nil {
		t.Fatal(err)
	}
	if d.Want != d.Current || !strings.Contains(d.Reason, "stopped") {
		t.Errorf("Check = %+v, want the count kept", d)
	}
	if writes := f.Scales(); len(writes) != 0 {
		t.Errorf("writes %+v, want none", writes)
	}
}

func TestScalerNomadErrors(t *testing.T) {
	wantStatus := func(t *testing.T, err error, status int) {
		t.Helper()
		var ue api.UnexpectedResponseError
		if !errors.As(err, &ue) || ue.StatusCode() != status {
			t.Errorf("error %v, want a wrapped %d from Nomad", err, status)
		}
	}

	t.Run("status read denied", func(t *testing.T) {
		f := nomadtest.New(t, testRegion)
		f.FailScaleStatus(&nomadtest.Failure{Status: http.StatusForbidden, Body: "Permission denied"})
		s, _ := newTestScaler(t, f, testPolicy)
		_, err := s.Check(t.Context(), capacity(3, 0.05, 0.05))
		wantStatus(t, err, http.StatusForbidden)
		if err != nil && !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("error %q lacks Nomad's body", err)
		}
		if writes := f.Scales(); len(writes) != 0 {
			t.Errorf("writes %+v, want none", writes)
		}
	})

	t.Run("scale write fails, then succeeds", func(t *testing.T) {
		f := nomadtest.New(t, testRegion)
		f.FailScales(&nomadtest.Failure{Status: http.StatusInternalServerError, Body: "rpc error: rpc error: No cluster leader"})
		s, now := newTestScaler(t, f, testPolicy)
		d, err := s.Check(t.Context(), capacity(3, 0.05, 0.05))
		wantStatus(t, err, http.StatusInternalServerError)
		if d.Want != 4 {
			t.Errorf("decision %+v, want 3 to 4 even on error", d)
		}
		// A failed write starts no cooldown: the next check writes again.
		f.FailScales(nil)
		*now = now.Add(time.Second)
		if _, err := s.Check(t.Context(), capacity(3, 0.05, 0.05)); err != nil {
			t.Fatal(err)
		}
		if writes := f.Scales(); len(writes) != 2 || *writes[1].Body.Count != 4 {
			t.Errorf("writes %+v, want a retry to 4", writes)
		}
	})

	t.Run("unknown job", func(t *testing.T) {
		f := nomadtest.New(t, testRegion)
		p := testPolicy
		p.Job = "other"
		s, _ := newTestScaler(t, f, p)
		_, err := s.Check(t.Context(), capacity(3, 0.05, 0.05))
		wantStatus(t, err, http.StatusNotFound)
	})

	t.Run("unknown group", func(t *testing.T) {
		f := nomadtest.New(t, testRegion)
		p := testPolicy
		p.Group = "other"
		s, _ := newTestScaler(t, f, p)
		if _, err := s.Check(t.Context(), capacity(3, 0.05, 0.05)); err == nil || !strings.Contains(err.Error(), "no group other") {
			t.Errorf("Check = %v, want no group", err)
		}
	})

	t.Run("invalid policy", func(t *testing.T) {
		f := nomadtest.New(t, testRegion)
		p := testPolicy
		p.Max = 0
		s, _ := newTestScaler(t, f, p)
		if _, err := s.Check(t.Context(), capacity(3, 0.05, 0.05)); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("Check = %v, want ErrInvalidPolicy", err)
		}
		if n := len(f.RequestsTo(http.MethodGet, "/v1/job/"+testJob+"/scale")); n != 0 {
			t.Errorf("%d requests to Nomad, want none", n)
		}
	})
}
