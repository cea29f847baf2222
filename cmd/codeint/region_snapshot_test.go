package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRegionSnapshotRestore saves the region's state with `operator
// snapshot save`, creates a sandbox, and restores the file through a
// follower (forwarded to the leader): every server then reads, at
// LINEARIZABLE, the sandbox made before the save as RUNNING and the one
// made after as NOT_FOUND; the servers agree on the state, and the agent
// is told to kill the sandbox the region no longer knows.
func TestRegionSnapshotRestore(t *testing.T) {
	r := startRegion(t, "rs", 3, true)
	ctx := ctxT(t, 2*time.Minute)
	leader := r.waitLeader(t, 10*time.Second)
	followers := r.followersOf(leader)
	kept, err := leader.client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	// The follower the file is saved on has applied the create.
	if _, err := followers[0].client().SandboxAt(ctx, kept.ID, "LINEARIZABLE"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(r.dir, "rs.snap")
	if out, err := r.operator(t, followers[0], "snapshot save", nil, file); err != nil || !strings.Contains(out, "saved "+file) {
		t.Fatalf("snapshot save: %v: %s", err, out)
	}

	gone, err := followers[1].client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(r.dir, "agent")
	if !slices.Contains(runcList(t, agentDir), gone.ID) {
		t.Fatalf("%s does not run on the agent before the restore", gone.ID)
	}

	out, err := r.operator(t, followers[1], "snapshot restore", nil, file)
	if err != nil || !strings.Contains(out, "restored "+file) {
		t.Fatalf("snapshot restore: %v: %s", err, out)
	}
	restored := time.Now()
	t.Log(strings.TrimSpace(out))
	for _, s := range r.servers {
		sb, err := s.client().SandboxAt(ctx, kept.ID, "LINEARIZABLE")
		if err != nil || sb.State != "RUNNING" {
			t.Fatalf("%s reads %s (saved) after the restore as %+v, %v", s.id, kept.ID, sb, err)
		}
		_, err = s.client().SandboxAt(ctx, gone.ID, "LINEARIZABLE")
		if codeint.CodeOf(err) != codeint.CodeNotFound {
			t.Fatalf("%s reads %s (made after the save) after the restore: %v, want NOT_FOUND", s.id, gone.ID, err)
		}
	}
	r.waitSameState(t, 30*time.Second)

	// The agent still runs the sandbox the region forgot; the leader
	// tells it to kill it once the grace (the TTL, 3 s) has passed.
	deadline := time.Now().Add(20 * time.Second)
	reconciled := func() bool {
		ev := logEvents(r.agent.logs.String(), "sandbox_reconciled")
		return len(ev) == 1 && ev[0]["sandbox_id"] == gone.ID
	}
	for slices.Contains(runcList(t, agentDir), gone.ID) || !reconciled() {
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the restore: %s in runc list %v; agent's sandbox_reconciled events %v",
				gone.ID, runcList(t, agentDir), logEvents(r.agent.logs.String(), "sandbox_reconciled"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s killed on the agent %v after the restore", gone.ID, time.Since(restored).Round(100*time.Millisecond))
	res, err := followers[0].client().Execute(ctx, kept.ID, codeint.ExecuteInput{Language: "PYTHON", Code: "print('kept')"})
	if err != nil || res.ExitCode != 0 || res.Stdout != "kept\n" {
		t.Fatalf("execute in %s after the restore: %+v, %v", kept.ID, res, err)
	}
}
