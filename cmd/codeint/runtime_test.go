package main

import (
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
