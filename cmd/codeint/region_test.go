package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRegionOfThreeServers runs a region of three `codeint server`
// processes and one `codeint agent` over mutual TLS on loopback: the
// servers bootstrap together from static peers, any server takes any
// request (writes are forwarded to the leader, streams go to the agent),
// reads honour their consistency level, and the operator commands work.
func TestRegionOfThreeServers(t *testing.T) {
	r := startRegion(t, "r1", 3, true)
	leader := r.waitLeader(t, 30*time.Second)
	var followers []*testServer
	for _, s := range r.servers {
		if s != leader {
			followers = append(followers, s)
		}
	}
	ctx := ctxT(t, 3*time.Minute)

	t.Run("every server sees the same cluster", func(t *testing.T) {
		for _, s := range r.servers {
			c, err := s.client().Cluster(ctx)
			if err != nil {
				t.Fatalf("%s: %v", s.id, err)
			}
			if c.Region != "r1" || len(c.Servers) != 3 || c.Leader == nil || c.Leader.NodeID != leader.id {
				t.Fatalf("%s sees %+v, want 3 servers led by %s", s.id, c, leader.id)
			}
			for _, srv := range c.Servers {
				if !srv.Voter || srv.RPCAddress == "" {
					t.Fatalf("%s sees server %+v: want a voter with an RPC address", s.id, srv)
				}
			}
		}
	})

	t.Run("the bootstrap key is written by one server", func(t *testing.T) {
		n := 0
		for _, s := range r.servers {
			b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.key"))
			if err == nil {
				n++
				if strings.TrimSpace(string(b)) != testBootstrapKey {
					t.Fatalf("%s wrote another key", s.id)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d servers wrote admin.key, want the one that bootstrapped the key", n)
		}
	})

	t.Run("create on a follower, execute on another, read linearizably everywhere", func(t *testing.T) {
		sb, err := followers[0].client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range r.servers {
			got, err := s.client().SandboxAt(ctx, sb.ID, "LINEARIZABLE")
			if err != nil {
				t.Fatalf("%s: %v", s.id, err)
			}
			if got.State != "RUNNING" || got.NodeID != "r1-a1" {
				t.Fatalf("%s reads %s as %s on %q", s.id, sb.ID, got.State, got.NodeID)
			}
		}
		var chunks []string
		res, err := followers[1].client().StreamExecute(ctx, sb.ID, codeint.ExecuteInput{Language: "PYTHON",
			Code: "import sys\nprint('hello from r1')\nsys.stdout.flush()\nprint(6*7)"}, func(c codeint.OutputChunk) {
			chunks = append(chunks, c.Data)
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 || res.Stdout != "hello from r1\n42\n" || strings.Join(chunks, "") != res.Stdout {
			t.Fatalf("result %+v, chunks %q", res, chunks)
		}
		if _, err := leader.client().TerminateSandbox(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		got, err := followers[1].client().SandboxAt(ctx, sb.ID, "LINEARIZABLE")
		if err != nil || got.State != "STOPPED" {
			t.Fatalf("after terminate: %+v, %v", got, err)
		}
	})

	t.Run("operator list-peers and snapshot save", func(t *testing.T) {
		out, err := r.operator(t, followers[0], "raft list-peers", nil)
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, s := range r.servers {
			if !strings.Contains(out, s.id) {
				t.Fatalf("list-peers lacks %s:\n%s", s.id, out)
			}
		}
		if !strings.Contains(out, "leader") {
			t.Fatalf("list-peers names no leader:\n%s", out)
		}
		snap := filepath.Join(r.dir, "region.snap")
		if out, err := r.operator(t, followers[1], "snapshot save", nil, snap); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if fi, err := os.Stat(snap); err != nil || fi.Size() == 0 {
			t.Fatalf("snapshot file: %v", err)
		}
	})

	t.Run("an agent certificate may not call server RPCs", func(t *testing.T) {
		out, err := r.operator(t, leader, "raft remove-peer", []string{"--cert-file", filepath.Join(r.dir, "tls", "r1-agent-r1-a1.pem"),
			"--key-file", filepath.Join(r.dir, "tls", "r1-agent-r1-a1-key.pem")}, "nobody")
		if err == nil || !strings.Contains(out, "may not call") {
			t.Fatalf("remove-peer with an agent certificate: %v: %s", err, out)
		}
	})
}
