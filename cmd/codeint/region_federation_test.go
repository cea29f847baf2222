package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/consul/consultest"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// regionsOf returns the regions a server reports, by name.
func regionsOf(ctx context.Context, c *codeint.Client) (map[string]codeintRegion, error) {
	var data struct {
		Regions []codeintRegion `json:"regions"`
	}
	if err := c.Do(ctx, `{ regions { name authoritative leader latencyMs latencySource healthy } }`, nil, &data); err != nil {
		return nil, err
	}
	out := map[string]codeintRegion{}
	for _, r := range data.Regions {
		out[r.Name] = r
	}
	return out, nil
}

type codeintRegion struct {
	Name          string   `json:"name"`
	Authoritative bool     `json:"authoritative"`
	Leader        string   `json:"leader"`
	LatencyMs     *float64 `json:"latencyMs"`
	LatencySource string   `json:"latencySource"`
	Healthy       bool     `json:"healthy"`
}

// eventually polls cond every 20 ms until it holds or timeout passes, and
// returns how long it took.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
	return 0
}

// TestFederationOfTwoRegions federates an authoritative region and another
// (one server each, certificates from one CA): both list both regions
// with a measured latency; teams and keys created or revoked in either
// region take effect in both within 5 s; with the authoritative region
// gone, a global write is UNAVAILABLE while the other region still serves
// its own sandboxes; a third region naming itself authoritative is refused.
func TestFederationOfTwoRegions(t *testing.T) {
	caDir := filepath.Join(newDataDir(t), "ca")
	if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
		t.Fatal(err)
	}
	a := startRegionOpts(t, regionOpts{name: "fa", servers: 1, caDir: caDir})
	b := startRegionOpts(t, regionOpts{name: "fb", servers: 1, agent: true, caDir: caDir,
		serverArgs: []string{"--authoritative-region", "fa", "--federate", a.servers[0].rpc}})
	ca, cb := a.servers[0].client(), b.servers[0].client()
	ctx := ctxT(t, 3*time.Minute)

	t.Run("both regions list both, with a measured latency", func(t *testing.T) {
		for _, c := range []*codeint.Client{ca, cb} {
			eventually(t, 10*time.Second, "regions", func() error {
				rs, err := regionsOf(ctx, c)
				if err != nil {
					return err
				}
				fa, fb := rs["fa"], rs["fb"]
				if len(rs) != 2 || !fa.Authoritative || fb.Authoritative || !fa.Healthy || !fb.Healthy || fa.Leader == "" || fb.Leader == "" {
					return fmt.Errorf("regions %+v", rs)
				}
				if (fa.LatencyMs == nil) == (fb.LatencyMs == nil) {
					return fmt.Errorf("want a latency for the other region only: %+v", rs)
				}
				return nil
			})
		}
	})

	t.Run("a key created in the authoritative region works in the other within 5 s", func(t *testing.T) {
		team, err := ca.CreateTeam(ctx, "fed-team")
		if err != nil {
			t.Fatal(err)
		}
		k, err := ca.CreateAPIKey(ctx, team.ID, "fed-key")
		if err != nil {
			t.Fatal(err)
		}
		lag := eventually(t, 5*time.Second, "the key in region fb", func() error {
			_, err := codeint.New("http://"+b.servers[0].http, k.Secret).Viewer(ctx)
			return err
		})
		t.Logf("replication lag of a new key: %v", lag)

		// A global write made in fb commits in fa and comes back.
		k2, err := codeint.New("http://"+b.servers[0].http, k.Secret).CreateAPIKey(ctx, "", "made-in-fb")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := codeint.New("http://"+a.servers[0].http, k2.Secret).Viewer(ctx); err != nil {
			t.Fatalf("a key created through fb does not work in fa at once: %v", err)
		}
		eventually(t, 5*time.Second, "the fb-made key in fb", func() error {
			_, err := codeint.New("http://"+b.servers[0].http, k2.Secret).Viewer(ctx)
			return err
		})

		// The team renamed through fb: fa at once, fb within 5 s.
		if _, err := codeint.New("http://"+b.servers[0].http, k2.Secret).RenameTeam(ctx, team.ID, "renamed-in-fb"); err != nil {
			t.Fatal(err)
		}
		if v, err := codeint.New("http://"+a.servers[0].http, k2.Secret).Viewer(ctx); err != nil || v.Team.Name != "renamed-in-fb" {
			t.Fatalf("the rename in fa: %+v, %v", v, err)
		}
		eventually(t, 5*time.Second, "the rename in fb", func() error {
			v, err := codeint.New("http://"+b.servers[0].http, k2.Secret).Viewer(ctx)
			if err == nil && v.Team.Name != "renamed-in-fb" {
				err = fmt.Errorf("fb still names the team %q", v.Team.Name)
			}
			return err
		})

		// Revoked in fb: refused in fa at once, in fb within 5 s.
		if _, err := cb.RevokeAPIKey(ctx, k.Key.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := codeint.New("http://"+a.servers[0].http, k.Secret).Viewer(ctx); codeint.CodeOf(err) != codeint.CodeUnauthenticated {
			t.Fatalf("revoked key in fa: %v", err)
		}
		lag = eventually(t, 5*time.Second, "the revocation in fb", func() error {
			_, err := codeint.New("http://"+b.servers[0].http, k.Secret).Viewer(ctx)
			if codeint.CodeOf(err) != codeint.CodeUnauthenticated {
				return fmt.Errorf("revoked key still works in fb: %v", err)
			}
			return nil
		})
		t.Logf("replication lag of a revocation: %v", lag)
	})

	t.Run("a sandbox of fb is used through fa", func(t *testing.T) {
		sb, err := cb.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ca.Sandbox(ctx, sb.ID)
		if err != nil || got.Region != "fb" || got.State != "RUNNING" {
			t.Fatalf("fb's sandbox read through fa: %+v, %v", got, err)
		}
		var streamed strings.Builder
		res, err := ca.StreamExecute(ctx, sb.ID, codeint.ExecuteInput{Language: "PYTHON", Code: "print('from fb', flush=True)"},
			func(c codeint.OutputChunk) { streamed.WriteString(c.Data) })
		if err != nil || res.Stdout != "from fb\n" || streamed.String() != res.Stdout {
			t.Fatalf("execute through fa: %+v (streamed %q), %v", res, streamed.String(), err)
		}
		if got, err := ca.SetSandboxTimeout(ctx, sb.ID, 600); err != nil || got.TimeoutSeconds != 600 {
			t.Fatalf("set timeout through fa: %+v, %v", got, err)
		}
		if got, err := ca.TerminateSandbox(ctx, sb.ID); err != nil || got.State != "STOPPED" {
			t.Fatalf("terminate through fa: %+v, %v", got, err)
		}
		if got, err := cb.SandboxAt(ctx, sb.ID, "LINEARIZABLE"); err != nil || got.State != "STOPPED" {
			t.Fatalf("fb after the terminate through fa: %+v, %v", got, err)
		}
		if _, err := ca.Sandbox(ctx, "sb_nowhere"); codeint.CodeOf(err) != codeint.CodeNotFound {
			t.Fatalf("an id no region holds: %v, want NOT_FOUND", err)
		}
	})

	t.Run("a region naming another authoritative region is refused", func(t *testing.T) {
		c := startRegionOpts(t, regionOpts{name: "fc", servers: 1, caDir: caDir,
			serverArgs: []string{"--federate", a.servers[0].rpc}}) // fc holds itself authoritative
		eventually(t, 10*time.Second, "fa's refusal logged", func() error {
			if !strings.Contains(a.servers[0].proc.logs.String(), "federation_conflict") &&
				!strings.Contains(c.servers[0].proc.logs.String(), "federation_conflict") {
				return fmt.Errorf("no federation_conflict log line on either side")
			}
			return nil
		})
		rs, err := regionsOf(ctx, c.servers[0].client())
		if err != nil {
			t.Fatal(err)
		}
		if fa := rs["fa"]; fa.Healthy || fa.Authoritative {
			t.Fatalf("fc sees fa as %+v: want it refused (unhealthy, not authoritative)", fa)
		}
	})

	t.Run("cut off from the authoritative region, fb serves its own and refuses global writes", func(t *testing.T) {
		a.servers[0].proc.stop(t, syscall.SIGTERM)
		_, err := cb.CreateTeam(ctx, "while-fa-is-down")
		if codeint.CodeOf(err) != codeint.CodeUnavailable {
			t.Fatalf("global write with fa down: %v, want UNAVAILABLE", err)
		}
		sb, err := cb.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatalf("fb cannot create its own sandbox with fa down: %v", err)
		}
		res, err := cb.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: "PYTHON", Code: "print(2+2)"})
		if err != nil || res.Stdout != "4\n" {
			t.Fatalf("execute in fb with fa down: %+v, %v", res, err)
		}
	})
}

// TestFederationThroughConsul: regions that know each other only through
// Consul — every server registers codeint-server with its region tag, and
// --federate consul:// lists the other regions' passing servers —
// federate, and a key made in the authoritative region works in the other.
func TestFederationThroughConsul(t *testing.T) {
	fake := consultest.New(t)
	caDir := filepath.Join(newDataDir(t), "ca")
	if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
		t.Fatal(err)
	}
	// The later --join wins over the harness's static list.
	a := startRegionOpts(t, regionOpts{name: "ka", servers: 1, caDir: caDir, serverArgs: []string{"--join", fake.Addr()}})
	b := startRegionOpts(t, regionOpts{name: "kb", servers: 1, caDir: caDir,
		serverArgs: []string{"--join", fake.Addr(), "--authoritative-region", "ka", "--federate", fake.Addr()}})
	ctx := ctxT(t, time.Minute)
	eventually(t, 10*time.Second, "kb sees ka through Consul", func() error {
		rs, err := regionsOf(ctx, b.servers[0].client())
		if err != nil {
			return err
		}
		if ka := rs["ka"]; !ka.Healthy || !ka.Authoritative || ka.LatencyMs == nil {
			return fmt.Errorf("kb sees ka as %+v", ka)
		}
		return nil
	})
	team, err := a.servers[0].client().CreateTeam(ctx, "consul-team")
	if err != nil {
		t.Fatal(err)
	}
	k, err := a.servers[0].client().CreateAPIKey(ctx, team.ID, "consul-key")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "ka's key in kb", func() error {
		_, err := codeint.New("http://"+b.servers[0].http, k.Secret).Viewer(ctx)
		return err
	})
}
