package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/runc"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// Benchmarks of the whole platform through its public API, as `make
// bench` runs them: each reports p50/p99 figures as custom metrics.

func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Microseconds()) / 1000
}

func reportLatency(b *testing.B, name string, ds []time.Duration) {
	b.ReportMetric(percentile(ds, 0.50), name+"-p50-ms")
	b.ReportMetric(percentile(ds, 0.90), name+"-p90-ms")
	b.ReportMetric(percentile(ds, 0.99), name+"-p99-ms")
}

// BenchmarkCreate times createSandbox through GraphQL until the API
// answers RUNNING, cold (no warm pool), and beside it a bare `runc run` of
// the same bundle (process /bin/true: create, start, exit, delete), in one
// run.
func BenchmarkCreate(b *testing.B) { benchCreateCold(b, codeint.RuntimeRunc) }

// BenchmarkCreateGVisor is BenchmarkCreate for runtime GVISOR, beside a bare
// `runsc run` of the same bundle.
func BenchmarkCreateGVisor(b *testing.B) { benchCreateCold(b, codeint.RuntimeGVisor) }

// bareUIDBase keeps the bare runs' uids clear of the agent's ranges.
const bareUIDBase = 100000 + 4096*65536

func benchCreateCold(b *testing.B, runtime string) {
	d := startDev(b, newDataDir(b), "--pool-size", "0") // cold: no warm pool
	c := d.client()
	ctx := context.Background()
	bareDir := filepath.Join(d.dataDir, "bare")
	if err := os.MkdirAll(bareDir, 0o711); err != nil {
		b.Fatal(err)
	}
	kind, bin, global := runc.KindRunc, "runc", []string{"--root", filepath.Join(bareDir, "runc")}
	if runtime == codeint.RuntimeGVisor {
		kind, bin = runc.KindRunsc, "runsc"
		global = []string{"--root", filepath.Join(bareDir, "runsc"), "--platform=ptrace", "--network=none", "--oci-seccomp"}
	}
	var create, bare []time.Duration
	for i := 0; b.Loop(); i++ {
		begin := time.Now()
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Runtime: runtime})
		if err != nil {
			b.Fatal(err)
		}
		create = append(create, time.Since(begin))
		b.StopTimer()
		if _, err := c.TerminateSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("bare-%d", i)
		bundle := filepath.Join(bareDir, id)
		if err := runc.WriteBundle(bundle, runc.Options{ID: id, EnvdPath: filepath.Join(binDir, "envd"), Kind: kind,
			Args: []string{"/bin/true"}, VCPUs: 1, MemoryMB: 512, DiskMB: 512, CgroupParent: d.cgroupParent,
			UIDBase: bareUIDBase}); err != nil {
			b.Fatal(err)
		}
		begin = time.Now()
		out, err := exec.Command(bin, append(global, "run", "--bundle", bundle, id)...).CombinedOutput()
		bare = append(bare, time.Since(begin))
		if err != nil {
			b.Fatalf("bare %s run: %v: %s", bin, err, out)
		}
		b.StartTimer()
	}
	reportLatency(b, "create", create)
	reportLatency(b, "bare-"+bin, bare)
	b.ReportMetric(percentile(create, 0.5)/percentile(bare, 0.5), "create/bare-p50")
}

// benchSandbox starts `codeint dev` and one long-lived sandbox in it.
func benchSandbox(b *testing.B) (*codeint.Client, *codeint.Sandbox) {
	d := startDev(b, newDataDir(b), "--pool-size", "0")
	c := d.client()
	sb, err := c.CreateSandbox(context.Background(), codeint.CreateSandboxInput{TimeoutSeconds: 1800})
	if err != nil {
		b.Fatal(err)
	}
	return c, sb
}

// BenchmarkExecutePrint1 times the `execute` mutation of `print(1)` in
// Python, round trip through GraphQL (a new interpreter each time).
func BenchmarkExecutePrint1(b *testing.B) {
	c, sb := benchSandbox(b)
	ctx := context.Background()
	var rt []time.Duration
	for b.Loop() {
		begin := time.Now()
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "print(1)"})
		rt = append(rt, time.Since(begin))
		if err != nil || res.Stdout != "1\n" {
			b.Fatalf("execute: %+v %v", res, err)
		}
	}
	reportLatency(b, "print1", rt)
}

// BenchmarkFirstByte measures how long a chunk takes from the write in the
// sandbox to the client of the execution subscription: the process writes
// its clock (the sandbox shares the host's CLOCK_REALTIME) and the client
// compares on arrival.
func BenchmarkFirstByte(b *testing.B) {
	c, sb := benchSandbox(b)
	ctx := context.Background()
	code := "import sys, time\nsys.stdout.write(str(time.time_ns()) + '\\n')\nsys.stdout.flush()\ntime.sleep(0.02)"
	var lat []time.Duration
	for b.Loop() {
		var first time.Duration
		_, err := c.StreamExecute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: code}, func(ch codeint.OutputChunk) {
			if first != 0 {
				return
			}
			now := time.Now().UnixNano()
			ns, err := strconv.ParseInt(strings.TrimSpace(ch.Data), 10, 64)
			if err == nil {
				first = time.Duration(now - ns)
			}
		})
		if err != nil || first == 0 {
			b.Fatalf("stream: first %v, %v", first, err)
		}
		lat = append(lat, first)
	}
	reportLatency(b, "first-byte", lat)
}
