package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestDevServesAgentsAndOperators: `codeint dev --rpc-addr` makes its own
// certificates; an external `codeint agent` joins its region with them and
// runs sandboxes; operator commands work; the in-process node heartbeats,
// so it stays READY past the heartbeat TTL.
func TestDevServesAgentsAndOperators(t *testing.T) {
	dir := newDataDir(t)
	d := startDev(t, dir, "--rpc-addr", "127.0.0.1:0", "--pool-size", "0")
	rpc := ""
	eventually(t, 10*time.Second, "dev prints its RPC address", func() error {
		for _, line := range strings.Split(d.stdout.String(), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "RPC" {
				rpc = f[1]
				return nil
			}
		}
		return fmt.Errorf("not in:\n%s", d.stdout.String())
	})
	ctx := ctxT(t, 2*time.Minute)
	c := d.client()
	early, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}

	tlsDir := filepath.Join(dir, "tls")
	agent := &proc{name: "ext-1", args: []string{"agent", "--node-id", "ext-1", "--region", "local",
		"--data-dir", filepath.Join(dir, "ext-1"), "--servers", rpc, "--rpc-addr", freeAddr(t),
		"--cgroup-parent", cgroupParent() + "-ext", "--pool-size", "0", "--node-vcpus", "4", "--node-memory-mb", "4096",
		"--ca-file", filepath.Join(tlsDir, "ca.pem"), "--cert-file", filepath.Join(tlsDir, "local-agent.pem"),
		"--key-file", filepath.Join(tlsDir, "local-agent-key.pem")}}
	agent.start(t)
	t.Cleanup(func() {
		agent.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("agent logs:\n%s\ndev logs:\n%s", tail(agent.logs.String(), 100), tail(d.logs.String(), 100))
		}
	})
	eventually(t, 30*time.Second, "ext-1 registered", func() error {
		if !strings.Contains(d.logs.String(), `"event":"node_registered","node_id":"ext-1"`) {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	// The smaller node is the fuller one: binpack puts the next sandbox there.
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sb.NodeID != "ext-1" {
		t.Fatalf("sandbox placed on %q, want the external node ext-1", sb.NodeID)
	}
	res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: "BASH", Code: "echo external"})
	if err != nil || res.Stdout != "external\n" {
		t.Fatalf("execute on ext-1: %+v, %v", res, err)
	}

	out, err := exec.Command(filepath.Join(binDir, "codeint"), "operator", "raft", "list-peers", "--server", rpc,
		"--ca-file", filepath.Join(tlsDir, "ca.pem"), "--cert-file", filepath.Join(tlsDir, "local-client.pem"),
		"--key-file", filepath.Join(tlsDir, "local-client-key.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "local-1") || !strings.Contains(string(out), "leader") {
		t.Fatalf("operator raft list-peers against dev: %v\n%s", err, out)
	}

	// Past the heartbeat TTL the in-process node is still READY.
	time.Sleep(7 * time.Second)
	got, err := c.SandboxAt(ctx, early.ID, "LINEARIZABLE")
	if err != nil || got.State != "RUNNING" {
		t.Fatalf("the in-process node's sandbox after the TTL: %+v, %v", got, err)
	}
}
