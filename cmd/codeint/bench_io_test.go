package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// BenchmarkContextPrint1 times `print(1)` in a warm Python context, round
// trip through the `execute` mutation, and beside it the same cell in a
// warm Jupyter kernel on this machine (ipykernel, jupyter_client's
// execute_interactive, no sandbox), over as many samples.
func BenchmarkContextPrint1(b *testing.B) {
	c, sb := benchSandbox(b)
	ctx := context.Background()
	pc, err := c.CreateContext(ctx, sb.ID, codeint.Python, "")
	if err != nil {
		b.Fatal(err)
	}
	in := codeint.ExecuteInput{Language: codeint.Python, Code: "print(1)", ContextID: pc.ID}
	for range 20 { // warm-up, as for the kernel
		if _, err := c.Execute(ctx, sb.ID, in); err != nil {
			b.Fatal(err)
		}
	}
	var rt []time.Duration
	for b.Loop() {
		begin := time.Now()
		res, err := c.Execute(ctx, sb.ID, in)
		rt = append(rt, time.Since(begin))
		if err != nil || res.Stdout != "1\n" {
			b.Fatalf("execute: %+v %v", res, err)
		}
	}
	b.StopTimer()
	reportLatency(b, "context", rt)
	jupyter := jupyterRoundTrips(b, len(rt))
	reportLatency(b, "jupyter", jupyter)
	b.ReportMetric(percentile(rt, 0.5)/percentile(jupyter, 0.5), "context/jupyter-p50")
}

// jupyterRoundTrips runs testdata/jupyter_rtt.py for n samples.
func jupyterRoundTrips(b *testing.B, n int) []time.Duration {
	cmd := exec.Command("/usr/bin/python3", "testdata/jupyter_rtt.py", strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "PYDEVD_DISABLE_FILE_VALIDATION=1") // quiets the kernel's debugger notice
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("jupyter_rtt.py (needs python3-ipykernel and python3-jupyter-client): %v\n%s", err, stderr)
	}
	var ds []time.Duration
	for _, line := range strings.Fields(string(out)) {
		us, err := strconv.Atoi(line)
		if err != nil {
			b.Fatalf("jupyter_rtt.py printed %q", line)
		}
		ds = append(ds, time.Duration(us)*time.Microsecond)
	}
	if len(ds) != n {
		b.Fatalf("jupyter_rtt.py gave %d samples, want %d", len(ds), n)
	}
	return ds
}

// fileBenchSize is what BenchmarkUpload and BenchmarkDownload move per
// iteration.
const fileBenchSize = 64 << 20

// BenchmarkUpload streams 64 MiB into a sandbox over PUT /files (into
// /tmp, a tmpfs); MB/s is the throughput.
func BenchmarkUpload(b *testing.B) {
	c, sb := benchIOSandbox(b)
	data := randomBytes(b, fileBenchSize)
	b.SetBytes(fileBenchSize)
	for b.Loop() {
		if _, err := c.Upload(context.Background(), sb.ID, "/tmp/bench.bin", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDownload streams 64 MiB out of a sandbox over GET /files, the
// SHA-256 checked; MB/s is the throughput.
func BenchmarkDownload(b *testing.B) {
	c, sb := benchIOSandbox(b)
	if _, err := c.Upload(context.Background(), sb.ID, "/tmp/bench.bin", bytes.NewReader(randomBytes(b, fileBenchSize))); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fileBenchSize)
	for b.Loop() {
		if n, _, err := c.Download(context.Background(), sb.ID, "/tmp/bench.bin", io.Discard); err != nil || n != fileBenchSize {
			b.Fatalf("downloaded %d bytes: %v", n, err)
		}
	}
}

func benchIOSandbox(b *testing.B) (*codeint.Client, *codeint.Sandbox) {
	d := startDev(b, newDataDir(b), "--pool-size", "0")
	c := d.client()
	sb, err := c.CreateSandbox(context.Background(), codeint.CreateSandboxInput{TimeoutSeconds: 1800, DiskMB: 512, MemoryMB: 1024})
	if err != nil {
		b.Fatal(err)
	}
	return c, sb
}

func randomBytes(b *testing.B, n int) []byte {
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	return data
}
