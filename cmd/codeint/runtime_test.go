package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRuntimeChoiceErrors: a runtime the nodes lack is FAILED_PRECONDITION
// saying what to install; an unknown runtime or a size above the limits is
// INVALID_ARGUMENT naming the limit; nothing is created by either.
func TestRuntimeChoiceErrors(t *testing.T) {
	d := startDev(t, newDataDir(t), "--runsc", "/nonexistent/runsc", "--node-memory-mb", "4096")
	c := d.client()
	ctx := ctxT(t, time.Minute)

	_, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Runtime: codeint.RuntimeGVisor})
	wantCode(t, err, codeint.CodeFailedPrecondition)
	if !strings.Contains(err.Error(), "runsc") {
		t.Fatalf("%q does not say to install runsc", err)
	}
	err = c.Do(ctx, `mutation { createSandbox(input: {runtime: KATA}) { id } }`, nil, nil)
	wantCode(t, err, codeint.CodeInvalidArgument)

	_, err = c.CreateSandbox(ctx, codeint.CreateSandboxInput{MemoryMB: 6000})
	wantCode(t, err, codeint.CodeInvalidArgument)
	if !strings.Contains(err.Error(), "4096") {
		t.Fatalf("%q does not name the node's limit", err)
	}
	_, err = c.CreateSandbox(ctx, codeint.CreateSandboxInput{VCPUs: 64})
	wantCode(t, err, codeint.CodeInvalidArgument)

	list, err := c.ListSandboxes(ctx, "")
	if err != nil || len(list) != 0 {
		t.Fatalf("bad creates left %d sandboxes (%v)", len(list), err)
	}
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil || sb.Runtime != codeint.RuntimeRunc {
		t.Fatalf("default runtime: %+v %v", sb, err)
	}
}

// TestGVisorAndLimitsThroughTheAPI: a GVISOR sandbox runs code under gVisor's
// kernel, and a limit's outcome reaches the API's result and the
// resource_limit_errors_total metric.
func TestGVisorAndLimitsThroughTheAPI(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "0")
	c := d.client()
	ctx := ctxT(t, 2*time.Minute)

	g, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Runtime: codeint.RuntimeGVisor})
	if err != nil {
		t.Fatal(err)
	}
	if g.Runtime != codeint.RuntimeGVisor {
		t.Fatalf("runtime %q", g.Runtime)
	}
	res, err := c.Execute(ctx, g.ID, codeint.ExecuteInput{Language: codeint.Python,
		Code: "import os, platform\nprint(os.getuid(), platform.release())"})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if !strings.HasPrefix(res.Stdout, "1000 ") || strings.Contains(res.Stdout, strings.TrimSpace(string(host))) {
		t.Fatalf("under gVisor: %q (host kernel %s): want uid 1000 and not the host's kernel", res.Stdout, host)
	}
	if _, err := c.TerminateSandbox(ctx, g.ID); err != nil {
		t.Fatal(err)
	}

	r, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Execute(ctx, r.ID, codeint.ExecuteInput{Language: codeint.Python, CPUTimeLimit: 1, TimeoutSeconds: 20,
		Code: "while True: pass"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Name != "CPU_TIME_LIMIT" {
		t.Fatalf("busy loop with a 1 s CPU limit: %+v", res)
	}
	if v := d.metric(t, `resource_limit_errors_total{kind="CPU_TIME_LIMIT"}`); v != 1 {
		t.Fatalf("resource_limit_errors_total{kind=CPU_TIME_LIMIT} = %v, want 1", v)
	}
	if after, err := c.Execute(ctx, r.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "echo alive"}); err != nil || after.Stdout != "alive\n" {
		t.Fatalf("sandbox after the limit: %+v %v", after, err)
	}
}
