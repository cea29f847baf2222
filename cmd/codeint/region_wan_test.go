package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/internal/netlab"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// wanRTT are the round trips between the test's regions, made by toxiproxy
// latency toxics (half each way) on every inter-region path: these kernels
// have no netem qdisc.
var wanRTT = map[[2]string]time.Duration{
	{"wa", "wb"}: 30 * time.Millisecond,
	{"wa", "wc"}: 80 * time.Millisecond,
	{"wb", "wc"}: 120 * time.Millisecond,
}

// wanProbeInterval is the servers' --federation-probe-interval here: the
// network coordinates settle after some tens of probe rounds, which the
// default interval of a second would make minutes.
const wanProbeInterval = 200 * time.Millisecond

// wanTolerance is how far, relative, an estimated round trip may be from
// the one set.
const wanTolerance = 0.20

func rttBetween(a, b string) time.Duration {
	if d, ok := wanRTT[[2]string{a, b}]; ok {
		return d
	}
	return wanRTT[[2]string{b, a}]
}

// TestThreeRegionsOverAWAN runs three federated regions on one machine, each
// server in a network namespace of its own, regions joined only through
// toxiproxy paths with 30, 80 and 120 ms round trips: region wa
// (authoritative) has three servers, wb and wc one each; one agent per
// region. The federation forms; the servers' network coordinates settle
// so that they estimate every round trip within 20%, and the latencies the
// API reports are those estimates; a client in each region creates and
// executes at local latency; a key created in wa
// works everywhere within 5 s; wc cut off keeps serving its own clients
// and catches up on global changes when its links return.
func TestThreeRegionsOverAWAN(t *testing.T) {
	requireRoot(t)
	lab := netlab.New(t, "wan")
	caDir := filepath.Join(newDataDir(t), "ca")
	if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
		t.Fatal(err)
	}
	regions := []*labRegion{planLabRegion(t, lab, caDir, "wa", 3), planLabRegion(t, lab, caDir, "wb", 1), planLabRegion(t, lab, caDir, "wc", 1)}
	for _, r := range regions {
		r.poolSize = 2
	}

	// Region X reaches each server of region Y through a proxy listening on
	// X's cluster bridge: the namespaces have no other route out.
	proxies := map[string][]*netlab.Proxy{} // region → the proxies on its paths, both ways
	federate := map[string][]string{}       // region → proxy addresses of the other regions' servers
	for _, from := range regions {
		for _, to := range regions {
			if from == to {
				continue
			}
			for _, s := range to.servers {
				listen := net.JoinHostPort(from.cluster.IP(), "0")
				px := lab.Proxy(fmt.Sprintf("%s-%s", from.name, s.id), listen, s.rpc, rttBetween(from.name, to.name)/2)
				federate[from.name] = append(federate[from.name], px.Addr())
				proxies[from.name] = append(proxies[from.name], px)
				proxies[to.name] = append(proxies[to.name], px)
			}
		}
	}
	for _, r := range regions {
		r.start(t, "--authoritative-region", "wa", "--federate", strings.Join(federate[r.name], ","),
			"--federation-probe-interval", wanProbeInterval.String())
	}
	client := func(r *labRegion) *codeint.Client { return r.servers[0].client() }
	ctx := ctxT(t, 5*time.Minute)

	t.Run("the federation forms with measured latencies", func(t *testing.T) {
		for _, r := range regions {
			eventually(t, 20*time.Second, r.name+" sees the federation", func() error {
				rs, err := regionsOf(ctx, client(r))
				if err != nil {
					return err
				}
				for _, o := range regions {
					got, ok := rs[o.name]
					switch {
					case !ok || !got.Healthy || got.Leader == "" || got.Authoritative != (o.name == "wa"):
						return fmt.Errorf("%s sees %s as %+v", r.name, o.name, got)
					case o != r && got.LatencyMs == nil:
						return fmt.Errorf("%s has not measured %s", r.name, o.name)
					}
				}
				return nil
			})
		}
	})

	// Every server's Status carries its network coordinate: from each
	// server, the distance to each other region's coordinate (the median
	// of its servers') estimates the round trip set, and the latency the
	// API reports is that estimate.
	t.Run("latencies are estimated from network coordinates", func(t *testing.T) {
		var estimates map[*testServer]map[string]time.Duration
		took := eventually(t, 2*time.Minute, "settled coordinates that estimate every round trip", func() error {
			var err error
			if estimates, err = wanEstimates(t, regions); err != nil {
				return err
			}
			for _, r := range regions {
				rs, err := regionsOf(ctx, client(r))
				if err != nil {
					return err
				}
				for _, o := range regions {
					if o == r {
						continue
					}
					want, est := rttBetween(r.name, o.name), estimates[r.servers[0]][o.name]
					got := rs[o.name].LatencyMs
					switch {
					case got == nil || !withinRel(ms(*got), want, wanTolerance):
						return fmt.Errorf("the API of %s says %s is %v ms away, want %v ± %.0f%%", r.name, o.name, got, want, 100*wanTolerance)
					case rs[o.name].LatencySource != "vivaldi":
						return fmt.Errorf("the API of %s takes %s's latency from %q, want vivaldi", r.name, o.name, rs[o.name].LatencySource)
					case !withinRel(ms(*got), est, 0.10):
						return fmt.Errorf("the API of %s says %s is %.1f ms away, its coordinates %v", r.name, o.name, *got, est)
					}
				}
			}
			return nil
		})
		t.Logf("the coordinates settled %v after the federation formed (probes every %v)", took.Round(time.Second), wanProbeInterval)
		for _, r := range regions {
			rs, _ := regionsOf(ctx, client(r))
			for _, o := range regions {
				if o == r {
					continue
				}
				var fromEach []string
				for _, s := range r.servers {
					fromEach = append(fromEach, estimates[s][o.name].Round(100*time.Microsecond).String())
				}
				t.Logf("%s → %s: latencyMs %.1f, coordinates of %s's servers %s (round trip set to %v)", r.name, o.name,
					*rs[o.name].LatencyMs, r.name, strings.Join(fromEach, " "), rttBetween(r.name, o.name))
			}
		}
	})

	// Placement's region step estimates the client's round trip from the
	// coordinates: here from the region the request came in through.
	t.Run("placement counts the measured latencies", func(t *testing.T) {
		c := client(regions[0]) // wa
		near := func(p *codeint.Placement, region string, want time.Duration) error {
			r := regionOf(p, region)
			if r == nil || r.LatencyMs == nil || !withinRel(ms(*r.LatencyMs), want, wanTolerance) {
				return fmt.Errorf("placement's latency to %s: %+v, want %v ± %.0f%%", region, r, want, 100*wanTolerance)
			}
			return nil
		}
		p, err := c.PlacementPreview(ctx, codeint.CreateSandboxInput{})
		if err != nil || p.Region != "wa" {
			t.Fatalf("without a location: %+v, %v; want wa", p, err)
		}
		if err := errors.Join(near(p, "wb", rttBetween("wa", "wb")), near(p, "wc", rttBetween("wa", "wc"))); err != nil {
			t.Fatal(err)
		}
		p, err = c.PlacementPreview(ctx, codeint.CreateSandboxInput{Regions: []string{"wc", "wb"}, MaxLatencyMs: 50})
		if err != nil || p.Region != "wb" {
			t.Fatalf("wc (80 ms) is over a 50 ms budget, wb (30 ms) is not: %+v, %v", p, err)
		}
		if r := regionOf(p, "wc"); r == nil || !strings.Contains(r.Reason, "over the latency budget") {
			t.Fatalf("wc's reason: %+v", r)
		}
		_, err = c.PlacementPreview(ctx, codeint.CreateSandboxInput{Regions: []string{"wc"}, MaxLatencyMs: 50})
		if codeint.CodeOf(err) != codeint.CodeInvalidArgument || !strings.Contains(err.Error(), "wc 8") {
			t.Fatalf("a list none of which is within the budget: %v, want INVALID_ARGUMENT naming wc at ~80 ms", err)
		}
		// Created through wa, placed by wc's leader, used in wc (here the
		// regions' hosts have no route to each other's agents, only the
		// servers' proxies).
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Regions: []string{"wc"}})
		if err != nil || sb.Region != "wc" || sb.NodeID != "wc-a1" {
			t.Fatalf("create in wc through wa: %+v, %v", sb, err)
		}
		res, err := client(regions[2]).Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "print('wc')"})
		if err != nil || res.Stdout != "wc\n" {
			t.Fatalf("execute in wc: %+v, %v", res, err)
		}
		if _, err := c.TerminateSandbox(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("each region creates and executes at local latency", func(t *testing.T) {
		for _, r := range regions {
			var creates, execs []time.Duration
			for range 5 {
				start := time.Now()
				sb, err := client(r).CreateSandbox(ctx, codeint.CreateSandboxInput{})
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				creates = append(creates, time.Since(start))
				if sb.Region != r.name {
					t.Fatalf("a sandbox created in %s runs in %s", r.name, sb.Region)
				}
				start = time.Now()
				res, err := client(r).Execute(ctx, sb.ID, codeint.ExecuteInput{Language: "PYTHON", Code: "print(1)"})
				if err != nil || res.Stdout != "1\n" {
					t.Fatalf("%s: execute %+v, %v", r.name, res, err)
				}
				execs = append(execs, time.Since(start))
				if _, err := client(r).TerminateSandbox(ctx, sb.ID); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s (%d servers): create p50 %v, execute p50 %v (round trips to the other regions: %v)", r.name, len(r.servers),
				median(creates).Round(100*time.Microsecond), median(execs).Round(100*time.Microsecond), otherRTTs(r.name))
		}
	})

	var key *codeint.CreatedAPIKey
	t.Run("a key created in the authoritative region works everywhere within 5 s", func(t *testing.T) {
		team, err := client(regions[0]).CreateTeam(ctx, "wan-team")
		if err != nil {
			t.Fatal(err)
		}
		key, err = client(regions[0]).CreateAPIKey(ctx, team.ID, "wan-key")
		if err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		for _, r := range regions[1:] {
			eventually(t, 5*time.Second-time.Since(created), "the key in "+r.name, func() error {
				_, err := codeint.New("http://"+r.servers[0].http, key.Secret).Viewer(ctx)
				return err
			})
			t.Logf("the key works in %s %v after it was created in wa (round trip %v)", r.name, time.Since(created).Round(time.Millisecond), rttBetween("wa", r.name))
		}
	})

	t.Run("a region cut off serves its own clients and catches up", func(t *testing.T) {
		wc := regions[2]
		for _, px := range proxies["wc"] {
			if err := px.Down(); err != nil {
				t.Fatal(err)
			}
		}
		c := client(wc)
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatalf("wc cut off cannot create: %v", err)
		}
		if res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: "BASH", Code: "echo alone"}); err != nil || res.Stdout != "alone\n" {
			t.Fatalf("wc cut off cannot execute: %+v, %v", res, err)
		}
		if _, err := c.CreateTeam(ctx, "from-wc"); codeint.CodeOf(err) != codeint.CodeUnavailable {
			t.Fatalf("a global write in wc cut off: %v, want UNAVAILABLE", err)
		}
		// Meanwhile wa revokes the key and makes another.
		if _, err := client(regions[0]).RevokeAPIKey(ctx, key.Key.ID); err != nil {
			t.Fatal(err)
		}
		k2, err := client(regions[0]).CreateAPIKey(ctx, "", "made-during-the-cut")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := codeint.New("http://"+wc.servers[0].http, key.Secret).Viewer(ctx); err != nil {
			t.Fatalf("wc cut off should still know the old key (it cannot have heard of the revocation): %v", err)
		}
		for _, px := range proxies["wc"] {
			if err := px.Up(); err != nil {
				t.Fatal(err)
			}
		}
		healed := time.Now()
		eventually(t, 15*time.Second, "wc catches up", func() error {
			if _, err := codeint.New("http://"+wc.servers[0].http, k2.Secret).Viewer(ctx); err != nil {
				return fmt.Errorf("the new key: %w", err)
			}
			if _, err := codeint.New("http://"+wc.servers[0].http, key.Secret).Viewer(ctx); codeint.CodeOf(err) != codeint.CodeUnauthenticated {
				return fmt.Errorf("the revoked key still works: %v", err)
			}
			return nil
		})
		t.Logf("wc caught up on the global changes %v after its links returned", time.Since(healed).Round(time.Millisecond))
	})
}

// wanEstimates asks every server for its coordinate (Status) and returns,
// for each, the estimated round trip to each other region's coordinate:
// the median of that region's servers' (vivaldi.Book). Every estimate
// must be settled and within wanTolerance of the round trip set.
func wanEstimates(t *testing.T, regions []*labRegion) (map[*testServer]map[string]time.Duration, error) {
	t.Helper()
	now := time.Now()
	var book vivaldi.Book
	own := map[*testServer]*coordinate.Coordinate{}
	for _, r := range regions {
		for _, s := range r.servers {
			st, err := r.statusOnce(t, s, 2*time.Second)
			if err != nil {
				return nil, fmt.Errorf("status of %s: %w", s.id, err)
			}
			c, err := vivaldi.Decode(st.GetCoordinate())
			if err != nil || c == nil {
				return nil, fmt.Errorf("%s has no coordinate: %v", s.id, err)
			}
			if c.Error > vivaldi.SettledError {
				return nil, fmt.Errorf("the coordinate of %s has not settled (error %.2f)", s.id, c.Error)
			}
			own[s] = c
			book.Put(r.name, s.id, c, now)
		}
	}
	out := map[*testServer]map[string]time.Duration{}
	for _, r := range regions {
		for _, s := range r.servers {
			out[s] = map[string]time.Duration{}
			for _, o := range regions {
				if o == r {
					continue
				}
				rc, _ := book.Region(o.name, now)
				est := own[s].DistanceTo(rc)
				if want := rttBetween(r.name, o.name); !withinRel(est, want, wanTolerance) {
					return nil, fmt.Errorf("the coordinates of %s and of %s are %v apart, want %v ± %.0f%%", s.id, o.name, est, want, 100*wanTolerance)
				}
				out[s][o.name] = est
			}
		}
	}
	return out, nil
}

// withinRel reports whether got is within rel (relative) of want.
func withinRel(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func otherRTTs(region string) string {
	var out []string
	for _, o := range []string{"wa", "wb", "wc"} {
		if o != region {
			out = append(out, fmt.Sprintf("%s %v", o, rttBetween(region, o)))
		}
	}
	return strings.Join(out, ", ")
}
