package agent

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/runc"
)

// BenchmarkStartSandbox measures StartSandbox (bundle, runc run, first envd
// ping); the stop after each start is not timed.
func BenchmarkStartSandbox(b *testing.B) {
	a := newAgent(b, nil)
	ctx := context.Background()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-start-%d", i)
		begin := time.Now()
		if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: id}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(begin)
		b.StopTimer()
		if err := a.StopSandbox(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "start-ms")
}

// BenchmarkBareRuncRun is the reference for BenchmarkStartSandbox: a bare
// `runc run` of the same bundle whose process is /bin/true, timed from
// runc's start to its exit (create, start, exit, destroy).
func BenchmarkBareRuncRun(b *testing.B) {
	dir := dataDir(b)
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-bare-%d", i)
		bundle := filepath.Join(dir, id)
		b.StopTimer()
		if err := runc.WriteBundle(bundle, runc.Options{ID: id, EnvdPath: env.envdPath, Args: []string{"/bin/true"},
			CgroupParent: env.cgroupParent}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cmd := exec.Command(runcPath, "--root", filepath.Join(dir, "runc"), "run", "--bundle", bundle, id)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("runc run: %v: %s", err, out)
		}
	}
}

// BenchmarkExecutePrint1 measures one `print(1)` in Python, a new
// interpreter per execution, through envd in a running sandbox.
func BenchmarkExecutePrint1(b *testing.B) {
	a := newAgent(b, nil)
	id := startSandbox(b, a, agentapi.StartRequest{})
	ctx := context.Background()
	req := agentapi.ExecRequest{Language: agentapi.Python, Code: "print(1)"}
	for b.Loop() {
		res, err := a.Execute(ctx, id, req, nil)
		if err != nil || res.Stdout != "1\n" {
			b.Fatalf("Execute = %+v, %v", res, err)
		}
	}
}

// BenchmarkExecuteBashTrue measures the envd round trip with a trivial
// program, most of the cost outside the interpreter.
func BenchmarkExecuteBashTrue(b *testing.B) {
	a := newAgent(b, nil)
	id := startSandbox(b, a, agentapi.StartRequest{})
	ctx := context.Background()
	req := agentapi.ExecRequest{Language: agentapi.Bash, Code: "true"}
	for b.Loop() {
		if _, err := a.Execute(ctx, id, req, nil); err != nil {
			b.Fatal(err)
		}
	}
}
