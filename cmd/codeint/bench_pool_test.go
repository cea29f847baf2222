package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// BenchmarkCreateWarm times createSandbox through GraphQL to RUNNING when
// the warm pool has a ready sandbox; between creates (untimed) the claimed
// sandbox is terminated and the pool refilled.
func BenchmarkCreateWarm(b *testing.B) {
	d := startDev(b, newDataDir(b), "--pool-size", "4")
	c := d.client()
	ctx := context.Background()
	var create []time.Duration
	for b.Loop() {
		b.StopTimer()
		waitUntil(b, "a warm slot", func() bool { return d.metric(b, "warm_pool_ready") >= 1 })
		b.StartTimer()
		begin := time.Now()
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		create = append(create, time.Since(begin))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := c.TerminateSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportLatency(b, "warm-create", create)
	hits := d.metric(b, `warm_pool_claims_total{pool="base/RUNC/1cpu/512MB/512MB",result="hit"}`)
	misses := d.metric(b, `warm_pool_claims_total{pool="base/RUNC/1cpu/512MB/512MB",result="miss"}`)
	b.ReportMetric(hits/(hits+misses), "hit-rate")
}

// BenchmarkCreateKill runs create+terminate back to back through GraphQL
// with an adaptive warm pool, and reports the rate.
func BenchmarkCreateKill(b *testing.B) {
	d := startDev(b, newDataDir(b), "--pool-size", "2", "--pool-adaptive", "--pool-max", "16")
	c := d.client()
	ctx := context.Background()
	begin := time.Now()
	for b.Loop() {
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.TerminateSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "create+kill/s")
	hits := d.metric(b, `warm_pool_claims_total{pool="base/RUNC/1cpu/512MB/512MB",result="hit"}`)
	misses := d.metric(b, `warm_pool_claims_total{pool="base/RUNC/1cpu/512MB/512MB",result="miss"}`)
	b.ReportMetric(hits/(hits+misses), "hit-rate")
}

// BenchmarkIdleSandboxes creates idle sandboxes (64 MiB each) until
// CODEINT_BENCH_IDLE of them run (default 500) or a create fails, then
// reports how many ran and the memory each costs the host: the resident
// memory of every process in the sandboxes' cgroups (envd and anything the
// runtime left), and the cgroups' own memory usage. It runs once whatever
// -benchtime says.
func BenchmarkIdleSandboxes(b *testing.B) {
	want := 500
	if v, err := strconv.Atoi(os.Getenv("CODEINT_BENCH_IDLE")); err == nil && v > 0 {
		want = v
	}
	d := startDev(b, newDataDir(b), "--pool-size", "0", "--node-memory-mb", "10000000", "--node-vcpus", "100000")
	c := d.client()
	ctx := context.Background()
	var ids []string
	limit := "none (target reached)"
	for len(ids) < want {
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{MemoryMB: 64, VCPUs: 0.1, DiskMB: 16, TimeoutSeconds: 1800})
		if err != nil {
			limit = err.Error()
			break
		}
		ids = append(ids, sb.ID)
	}
	time.Sleep(2 * time.Second) // let the sandboxes settle into idle
	rss, usage := cgroupMemory(b, d.cgroupParent)
	for b.Loop() { // the measurement above is the benchmark; metrics are reported after the loop
	}
	n := float64(len(ids))
	b.ReportMetric(n, "idle-sandboxes")
	b.ReportMetric(rss/n/(1<<20), "rss-MiB/sandbox")
	b.ReportMetric(usage/n/(1<<20), "cgroup-MiB/sandbox")
	b.Logf("%d idle sandboxes; the limit: %s", len(ids), limit)
}

// cgroupMemory sums, over the sandbox cgroups below parent, the VmRSS of
// their processes and their memory usage (cgroup v1 or v2).
func cgroupMemory(b *testing.B, parent string) (rss, usage float64) {
	b.Helper()
	base := "/sys/fs/cgroup/memory/" + parent // v1
	usageFile := "memory.usage_in_bytes"
	if _, err := os.Stat(base); err != nil {
		base, usageFile = "/sys/fs/cgroup/"+parent, "memory.current" // v2
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if u, err := os.ReadFile(filepath.Join(dir, usageFile)); err == nil {
			v, _ := strconv.ParseFloat(strings.TrimSpace(string(u)), 64)
			usage += v
		}
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(procs)) {
			rss += vmRSS(pid)
		}
	}
	return rss, usage
}

func vmRSS(pid string) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%s/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}
