package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/cluster"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/internal/lincheck"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// manualClient is the lincheck client id of the test's own operations (the
// storms use 0 and 1).
const manualClient = 10

// TestRegionPartitionedServer cuts servers of a three-server region off
// the cluster network, each in its own network namespace, while the test
// still reaches their API over a client network:
//
//  1. A follower cut off refuses writes and LINEARIZABLE reads with
//     UNAVAILABLE within seconds, refuses DEFAULT reads once it may no
//     longer claim to be fresh (at the latest MaxStale after it last heard
//     from the leader), and still serves its old view to STALE reads;
//     meanwhile the two others go on creating and terminating sandboxes.
//  2. After the heal, the leader is cut off: the two others elect a new
//     leader within 3 s and go on, and the old leader steps down (its
//     writes fail).
//  3. Healed, every server holds the same state (index and hash), no
//     acknowledged sandbox is lost, and the recorded history is
//     linearizable.
func TestRegionPartitionedServer(t *testing.T) {
	r := startLabRegion(t, "rp", 3)
	ctx := ctxT(t, 3*time.Minute)
	rec := lincheck.NewRecorder()
	var acked []string
	healed := false // each phase ends with the region healed and agreed

	t.Run("a follower cut off", func(t *testing.T) {
		leader := r.waitLeader(t, 30*time.Second)
		follower := r.others(leader)[0]
		majority := r.others(follower)

		// A sandbox the follower has seen running before it is cut off.
		done := rec.Create(manualClient)
		old, err := majority[0].client().CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 120})
		done(sandboxIDOf(old), err)
		if err != nil {
			t.Fatal(err)
		}
		labWait(t, 10*time.Second, "the follower sees "+old.ID+" RUNNING", func() bool {
			sb, err := follower.client().SandboxAt(ctx, old.ID, "STALE")
			return err == nil && sb.State == "RUNNING"
		})

		stop := startStorm(r, majority, rec)
		cut := r.partition(t, follower)

		// Three clients ask the cut-off follower at once, from the moment of
		// the cut. A DEFAULT read may be served until the follower gives up
		// on its leader (its Raft heartbeat timeout) or MaxStale passes,
		// whichever comes first.
		probes := startProbes(cut,
			probe{what: "createSandbox on the cut-off follower", quorum: true, limit: probeLimit,
				op: func(ctx context.Context) error {
					_, err := follower.client().CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 60})
					return err
				}},
			probe{what: "LINEARIZABLE read on the cut-off follower", quorum: true, limit: probeLimit,
				op: func(ctx context.Context) error {
					_, err := follower.client().SandboxAt(ctx, old.ID, "LINEARIZABLE")
					return err
				}},
			probe{what: "DEFAULT read on the cut-off follower", limit: cluster.DefaultMaxStale + 3*time.Second,
				op: func(ctx context.Context) error {
					_, err := follower.client().SandboxAt(ctx, old.ID, "DEFAULT")
					return err
				}},
		)
		probes(t)

		// The majority stops the sandbox; the follower's STALE read still
		// returns its old view.
		tdone := rec.Terminate(manualClient, old.ID)
		if _, err := majority[1].client().TerminateSandbox(ctx, old.ID); err != nil {
			tdone(lincheck.Unknown)
			t.Fatal(err)
		}
		tdone(lincheck.OK)
		readRecorded(ctx, majority[0].client(), rec, manualClient, old.ID)
		if sb, err := follower.client().SandboxAt(ctx, old.ID, "STALE"); err != nil || sb.State != "RUNNING" {
			t.Fatalf("STALE read on the cut-off follower: %+v, %v; want its old view, RUNNING", sb, err)
		}

		ids := stop()
		t.Logf("the majority acknowledged %d creates while %s was cut off", len(ids), follower.id)
		if len(ids) < 5 {
			t.Fatalf("only %d creates acknowledged by the majority: it did not go on", len(ids))
		}
		acked = append(acked, ids...)

		r.heal(t, follower)
		r.waitLeader(t, 30*time.Second)
		r.waitSameState(t, 60*time.Second)
		healed = true
	})
	if !healed {
		return
	}
	healed = false

	t.Run("the leader cut off", func(t *testing.T) {
		old := r.waitLeader(t, 30*time.Second)
		majority := r.others(old)
		known := acked[0] // a sandbox of phase 1, for reads
		stop := startStorm(r, majority, rec)
		time.Sleep(500 * time.Millisecond) // the storm is under way when the leader goes
		cut := r.partition(t, old)

		probes := startProbes(cut,
			probe{what: "createSandbox on the cut-off old leader", quorum: true, limit: probeLimit,
				op: func(ctx context.Context) error {
					_, err := old.client().CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 60})
					return err
				}},
			probe{what: "LINEARIZABLE read on the cut-off old leader", quorum: true, limit: probeLimit,
				op: func(ctx context.Context) error {
					_, err := old.client().SandboxAt(ctx, known, "LINEARIZABLE")
					return err
				}},
		)
		var next *testServer
		labWait(t, 15*time.Second, "a new leader among the connected servers", func() bool {
			next = r.leaderAmong(t, majority)
			return next != nil
		})
		failover := time.Since(cut)
		t.Logf("leader %s cut off; %s leads the two others after %v", old.id, next.id, failover)
		if failover > 3*time.Second {
			t.Errorf("failover took %v, want ≤ 3 s", failover)
		}

		// The new leader goes on: each of the two others takes a create and
		// a terminate. (Calls already in flight to the old leader when it
		// was cut off wait for their client's timeout: the storm's count
		// shows it.)
		for i, s := range majority {
			if err := createTerminate(ctx, s, rec, manualClient+1+i); err != nil {
				t.Errorf("%s after the failover: %v", s.id, err)
			}
		}
		probes(t)
		c, err := old.client().Cluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Leader != nil && c.Leader.NodeID == old.id {
			t.Fatalf("the cut-off old leader still names itself leader: %+v", c.Leader)
		}

		ids := stop()
		t.Logf("the storm on the two others acknowledged %d creates in the %v after %s was cut off", len(ids), time.Since(cut).Round(time.Millisecond), old.id)
		acked = append(acked, ids...)
		r.heal(t, old)
		healed = true
	})
	if !healed {
		return
	}

	t.Run("healed: one history", func(t *testing.T) {
		r.waitLeader(t, 30*time.Second)
		state := r.waitSameState(t, 60*time.Second)
		t.Logf("all three servers at %s", state)
		c := r.servers[0].client()
		seen := map[string]bool{}
		for _, id := range acked {
			if seen[id] {
				t.Fatalf("id %s acknowledged twice", id)
			}
			seen[id] = true
			if _, err := c.SandboxAt(ctx, id, "LINEARIZABLE"); err != nil {
				t.Fatalf("acknowledged sandbox %s: %v", id, err)
			}
		}
		res, err := rec.Check(time.Minute, filepath.Join(os.TempDir(), "codeint-partition-history.html"))
		if err != nil {
			t.Fatalf("history of %d ops over %d sandboxes: %v", res.Ops, res.Partitions, err)
		}
		t.Logf("linearizable: %d ops over %d sandboxes", res.Ops, res.Partitions)
	})
}

// startStorm runs the storm of region_fault_test.go against servers only;
// stop ends it and returns the ids whose create was acknowledged.
func startStorm(r *labRegion, servers []*testServer, rec *lincheck.Recorder) (stop func() []string) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []string, 1)
	sub := &testRegion{name: r.name, servers: servers}
	go func() { out <- storm(ctx, sub, rec) }()
	return func() []string {
		cancel()
		return <-out
	}
}

// A probe asks a cut-off server the same thing again and again until it
// answers UNAVAILABLE.
type probe struct {
	what   string
	quorum bool // needs a quorum: a success fails the test
	limit  time.Duration
	op     func(ctx context.Context) error
}

// Each call of a probe may take as long as a forwarded call may wait for a
// leader (forward.DefaultMaxWait) and then some; the first UNAVAILABLE must
// come within probeLimit of the cut, so a client that does not retry gets
// its answer.
const (
	probeCallTimeout = forward.DefaultMaxWait + 5*time.Second
	probeLimit       = forward.DefaultMaxWait + 5*time.Second
)

// startProbes runs the probes at once; report waits for them and reports,
// for each, how long after since it first failed UNAVAILABLE and with what
// message. A probe that does not within its limit, or a quorum call that
// succeeds, fails the test (without stopping it).
func startProbes(since time.Time, probes ...probe) (report func(t *testing.T)) {
	results := make([]string, len(probes))
	failures := make([]string, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { results[i], failures[i] = p.run(since) })
	}
	return func(t *testing.T) {
		t.Helper()
		wg.Wait()
		reportProbes(t, results, failures)
	}
}

func reportProbes(t *testing.T, results, failures []string) {
	t.Helper()
	for i := range results {
		if failures[i] != "" {
			t.Error(failures[i])
		} else {
			t.Log(results[i])
		}
	}
}

// run returns what it measured, or why the probe failed.
func (p probe) run(since time.Time) (result, failure string) {
	var calls []string
	for time.Since(since) < p.limit {
		ctx, cancel := context.WithTimeout(context.Background(), probeCallTimeout)
		start := time.Now()
		err := p.op(ctx)
		cancel()
		took := time.Since(start).Round(time.Millisecond)
		switch {
		case err == nil && p.quorum:
			return "", fmt.Sprintf("%s succeeded %v after the cut, without a quorum", p.what, time.Since(since))
		case codeint.CodeOf(err) == codeint.CodeUnavailable:
			return fmt.Sprintf("%s: UNAVAILABLE %v after the cut: %v", p.what, time.Since(since).Round(time.Millisecond), err), ""
		case err != nil:
			calls = append(calls, fmt.Sprintf("%v after %v", err, took))
		default:
			calls = append(calls, "served")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A call that runs into the client's timeout waits on something the
	// partition made unreachable (a connection to the leader or to the
	// agent) without a deadline of its own.
	return "", fmt.Sprintf("%s: not UNAVAILABLE within %v of the cut; calls: %s", p.what, p.limit, strings.Join(compactCalls(calls), "; "))
}

// compactCalls folds runs of equal strings into "s ×n".
func compactCalls(ss []string) []string {
	var out []string
	for i := 0; i < len(ss); {
		j := i
		for j < len(ss) && ss[j] == ss[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", ss[i], j-i))
		} else {
			out = append(out, ss[i])
		}
		i = j
	}
	return out
}

// labWait polls cond every 20 ms until it holds, failing the test after
// timeout.
func labWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createTerminate creates a sandbox on s and terminates it, each call
// within 5 s, recording both as client.
func createTerminate(ctx context.Context, s *testServer, rec *lincheck.Recorder, client int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	opCtx, opCancel := context.WithTimeout(ctx, 5*time.Second)
	done := rec.Create(client)
	sb, err := s.client().CreateSandbox(opCtx, codeint.CreateSandboxInput{TimeoutSeconds: 60})
	opCancel()
	done(sandboxIDOf(sb), err)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	opCtx, opCancel = context.WithTimeout(ctx, 5*time.Second)
	defer opCancel()
	tdone := rec.Terminate(client, sb.ID)
	if _, err := s.client().TerminateSandbox(opCtx, sb.ID); err != nil {
		tdone(lincheck.Unknown)
		return fmt.Errorf("terminate %s: %w", sb.ID, err)
	}
	tdone(lincheck.OK)
	return nil
}

func sandboxIDOf(sb *codeint.Sandbox) string {
	if sb == nil {
		return ""
	}
	return sb.ID
}
