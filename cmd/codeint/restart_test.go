package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRestartReconciles stops `codeint dev` (gracefully, then with
// SIGKILL) and starts it again on the same data dir: the records survive in
// the Raft log, sandboxes that did not survive are STOPPED with a reason,
// and nothing of them is left on the host.
func TestRestartReconciles(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := newDataDir(t)
			d := startDev(t, dir)
			c := d.client()
			ctx := ctxT(t, 2*time.Minute)

			done, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.TerminateSandbox(ctx, done.ID); err != nil {
				t.Fatal(err)
			}
			alive, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
			if err != nil {
				t.Fatal(err)
			}
			if res, err := c.Execute(ctx, alive.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "echo up"}); err != nil || res.Stdout != "up\n" {
				t.Fatalf("execute before restart: %+v %v", res, err)
			}
			d.stop(t, sig)
			if sig == syscall.SIGTERM {
				// A graceful stop kills the sandboxes and cleans up after them.
				if l := d.leftovers(t, alive.ID); len(l) > 0 {
					t.Fatalf("left on the host after a graceful stop: %v", l)
				}
				d.hostClean(t) // warm slots included
			}

			// Without a warm pool of its own, the restarted platform must
			// leave runc knowing no container at all: the old process's
			// sandboxes and warm slots are reconciled away.
			d2 := startDev(t, dir, "--pool-size", "0")
			if d2.key != d.key {
				t.Fatalf("admin key changed across restart: %s → %s", d.key, d2.key)
			}
			c2 := d2.client()
			got, err := c2.Sandbox(ctx, alive.ID)
			if err != nil {
				t.Fatalf("record lost in restart: %v", err)
			}
			if got.State != codeint.StateStopped || got.StopReason != "AGENT_RESTART" {
				t.Fatalf("sandbox after restart: state %s reason %q, want STOPPED AGENT_RESTART", got.State, got.StopReason)
			}
			old, err := c2.Sandbox(ctx, done.ID)
			if err != nil || old.State != codeint.StateStopped || old.StopReason != "TERMINATED" {
				t.Fatalf("terminated sandbox after restart: %+v %v", old, err)
			}
			for _, id := range []string{alive.ID, done.ID} {
				if l := d2.leftovers(t, id); len(l) > 0 {
					t.Fatalf("left on the host after restart: %v", l)
				}
			}
			if left := d2.runcContainers(t); left != "" {
				t.Fatalf("runc still knows containers: %s", left)
			}
			_, err = c2.Execute(ctx, alive.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "true"})
			wantCode(t, err, codeint.CodeFailedPrecondition)
			// The restarted platform works.
			if _, err := c2.CreateSandbox(ctx, codeint.CreateSandboxInput{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
