package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestMeteredUsage runs a sandbox that burns a CPU for a while and checks
// that its node's metering reaches the ledger: the sandbox's usage covers
// its lifetime (RUNNING → STOPPED) within a second, counts the CPU time it
// burnt, and is final once it stopped.
func TestMeteredUsage(t *testing.T) {
	d := startDev(t, newDataDir(t))
	c := d.client()
	ctx := ctxT(t, 2*time.Minute)
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{VCPUs: 1, MemoryMB: 512})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python,
		Code: "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass\nprint('done')"})
	if err != nil || res.Stdout != "done\n" {
		t.Fatalf("execute: %+v, %v", res, err)
	}
	stopped, err := c.TerminateSandbox(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var u *codeint.SandboxUsage
	eventually(t, 30*time.Second, "the sandbox's final usage record in the ledger", func() error {
		got, err := c.Sandbox(ctx, sb.ID)
		if err != nil {
			return err
		}
		if u = got.Usage; u == nil || !u.Final {
			return fmt.Errorf("usage %+v", u)
		}
		return nil
	})
	lifetime := stopped.StoppedAt.Sub(*stopped.StartedAt).Seconds()
	if math.Abs(u.SandboxSeconds-lifetime) > 1 || math.Abs(u.VCPUSeconds-u.SandboxSeconds) > 1e-6 ||
		math.Abs(u.GiBSeconds-u.SandboxSeconds/2) > 1e-6 {
		t.Fatalf("usage %+v for a sandbox that ran %.2f s with 1 vCPU and 512 MB", u, lifetime)
	}
	if u.CPUSeconds < 1.2 || u.CPUSeconds > u.SandboxSeconds+0.5 || u.PeakMemoryBytes <= 0 || u.CostMicros <= 0 {
		t.Fatalf("usage %+v: want the 1.5 s of CPU burnt, a peak and a cost", u)
	}
	t.Logf("lifetime %.3f s, metered %+v", lifetime, *u)

	// codeint billing reconcile finds the sandbox within ±1 s.
	t.Setenv("CODEINT_URL", d.url)
	t.Setenv("CODEINT_API_KEY", d.key)
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"billing", "reconcile", "--json"}, nil, &out, &errOut); err != nil {
		t.Fatalf("reconcile: %v: %s %s", err, out.String(), errOut.String())
	}
	var rep reconcileReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Compared != 1 || rep.Within != 1 || len(rep.Outside) != 0 {
		t.Fatalf("reconcile report %s (%v)", out.String(), err)
	}

	// The same usage, grouped from the ledger: by sandbox it is the
	// sandbox's, by hour it sums to it.
	for _, by := range []string{"SANDBOX", "HOUR"} {
		var data struct {
			Usage struct {
				Groups []struct {
					Key            string  `json:"key"`
					SandboxSeconds float64 `json:"sandboxSeconds"`
					CPUSeconds     float64 `json:"cpuSeconds"`
					Records        int     `json:"records"`
				} `json:"groups"`
			} `json:"usage"`
		}
		err := c.Do(ctx, `query ($from: Time!, $to: Time!, $by: UsageGroupBy) { usage(from: $from, to: $to, groupBy: $by) { groups { key sandboxSeconds cpuSeconds records } } }`,
			map[string]any{"from": stopped.StartedAt.Add(-time.Hour), "to": time.Now().Add(time.Hour), "by": by}, &data)
		if err != nil {
			t.Fatal(err)
		}
		var secs, cpu float64
		for _, g := range data.Usage.Groups {
			secs, cpu = secs+g.SandboxSeconds, cpu+g.CPUSeconds
		}
		if math.Abs(secs-u.SandboxSeconds) > 1e-6 || math.Abs(cpu-u.CPUSeconds) > 1e-6 || (by == "SANDBOX" && data.Usage.Groups[0].Key != sb.ID) {
			t.Fatalf("usage by %s: %+v, want the sandbox's %+v", by, data.Usage.Groups, *u)
		}
	}
}

// reconcile counts sandboxes within ±1 s, lists the others, and leaves
// aside those not fully metered yet or that never ran.
func TestReconcileReport(t *testing.T) {
	at := func(s float64) *time.Time {
		v := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
		return &v
	}
	sbs := []*codeint.Sandbox{
		{ID: "ok", StartedAt: at(0), StoppedAt: at(10), Usage: &codeint.SandboxUsage{SandboxSeconds: 9.4, Final: true}},
		{ID: "off", StartedAt: at(0), StoppedAt: at(10), Usage: &codeint.SandboxUsage{SandboxSeconds: 12.5, Final: true}},
		{ID: "pending", StartedAt: at(0), StoppedAt: at(10), Usage: &codeint.SandboxUsage{SandboxSeconds: 5}},
		{ID: "never", StoppedAt: at(1)},
	}
	r := reconcile(sbs)
	if r.Compared != 2 || r.Within != 1 || r.Pending != 1 || len(r.Outside) != 1 || r.Outside[0].SandboxID != "off" ||
		math.Abs(r.Outside[0].Diff-2.5) > 1e-9 || math.Abs(r.Max-2.5) > 1e-9 {
		t.Fatalf("report %+v", r)
	}
}
