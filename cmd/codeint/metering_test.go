package main

import (
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
