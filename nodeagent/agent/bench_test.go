package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/runc"
)

// BenchmarkStartSandbox measures StartSandbox under runc (bundle, `runc run
// --detach`, first envd ping); the stop after each start is not timed.
func BenchmarkStartSandbox(b *testing.B) { benchmarkStart(b, agentapi.RuntimeRunc) }

// BenchmarkStartSandboxGVisor is BenchmarkStartSandbox under gVisor.
func BenchmarkStartSandboxGVisor(b *testing.B) { benchmarkStart(b, agentapi.RuntimeGVisor) }

func benchmarkStart(b *testing.B, rtm agentapi.Runtime) {
	a := newAgent(b, nil)
	ctx := context.Background()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-start-%d", i)
		begin := time.Now()
		if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: id, Runtime: rtm}); err != nil {
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
func BenchmarkBareRuncRun(b *testing.B) { benchmarkBareRun(b, runc.KindRunc) }

// BenchmarkBareRunscRun is BenchmarkBareRuncRun with runsc (ptrace
// platform, no network, the bundle's seccomp profile applied).
func BenchmarkBareRunscRun(b *testing.B) { benchmarkBareRun(b, runc.KindRunsc) }

func benchmarkBareRun(b *testing.B, kind runc.Kind) {
	dir := dataDir(b)
	bin, global := runcPath, []string{"--root", filepath.Join(dir, "runc")}
	if kind == runc.KindRunsc {
		bin, global = runscPath, []string{"--root", filepath.Join(dir, "runsc"), "--platform=ptrace", "--network=none", "--oci-seccomp"}
	}
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-bare-%d", i)
		bundle := filepath.Join(dir, id)
		b.StopTimer()
		if err := runc.WriteBundle(bundle, runc.Options{ID: id, EnvdPath: env.envdPath, Args: []string{"/bin/true"},
			CgroupParent: env.cgroupParent, Kind: kind, UIDBase: env.uidBase}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cmd := exec.Command(bin, append(global, "run", "--bundle", bundle, id)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s run: %v: %s", kind, err, out)
		}
	}
}

// BenchmarkCreateKillCycle measures a full sandbox life without work:
// StartSandbox then StopSandbox, one after the other (runc).
func BenchmarkCreateKillCycle(b *testing.B) {
	a := newAgent(b, nil)
	ctx := context.Background()
	begin := time.Now()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-cycle-%d", i)
		if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: id}); err != nil {
			b.Fatal(err)
		}
		if err := a.StopSandbox(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "cycles/s")
}

// idleSandboxes is how many sandboxes BenchmarkIdleMemory keeps idle.
const idleSandboxes = 50

// BenchmarkIdleMemory starts idleSandboxes idle runc sandboxes and reports
// their overhead per sandbox: the resident memory of envd and of any
// runtime process (none stays under runc), from /proc (RSS, and PSS, which
// shares envd's code pages among the sandboxes), and the memory charged to
// the sandbox's cgroup.
func BenchmarkIdleMemory(b *testing.B) {
	base := nextUIDBase(b)
	nextUIDBase(b) // two windows: 64 ranges
	a := newAgentWith(b, Config{UIDBase: base, UIDRanges: 2 * testUIDRanges})
	ctx := context.Background()
	ids := make([]string, idleSandboxes)
	for i := range ids {
		ids[i] = fmt.Sprintf("idle-%d", i)
		if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: ids[i]}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		time.Sleep(500 * time.Millisecond) // idle
		var rss, pss, cg uint64
		for _, id := range ids {
			sb := a.lookup(id)
			for _, pid := range sb.container.RuntimePids() {
				r, p := rssPss(b, pid)
				rss, pss = rss+r, pss+p
			}
			st, err := sb.container.Cgroup().Stats()
			if err != nil {
				b.Fatal(err)
			}
			cg += st.MemoryBytes
		}
		n := float64(len(ids)) * (1 << 20)
		b.ReportMetric(float64(rss)/n, "rss-MiB/sandbox")
		b.ReportMetric(float64(pss)/n, "pss-MiB/sandbox")
		b.ReportMetric(float64(cg)/n, "cgroup-MiB/sandbox")
	}
}

// rssPss reads a process's resident and proportional set sizes in bytes.
func rssPss(b *testing.B, pid int) (rss, pss uint64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(string(f[1]), 10, 64)
		switch string(f[0]) {
		case "Rss:":
			rss = kb << 10
		case "Pss:":
			pss = kb << 10
		}
	}
	return rss, pss
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
