package main

import (
	"fmt"
	"math"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestBudgetHoldsAcrossRegions: a team spends in two regions, ga (the
// authoritative one, where its balance lives) and gb. Each region's leader
// reports its usage to ga and gets the other's back, so:
//   - a hard limit that only the two regions' usage together reaches stops
//     the team's sandboxes in both within 30 s, and refuses its creates in
//     both, also in ga, whose own usage is far from the limit;
//   - gb, cut off from ga, meters on; once ga is back it charges gb's
//     usage exactly once, and both regions charge the team the price of
//     every sandbox's metered usage.
func TestBudgetHoldsAcrossRegions(t *testing.T) {
	caDir := filepath.Join(newDataDir(t), "ca")
	if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
		t.Fatal(err)
	}
	a := startRegionOpts(t, regionOpts{name: "ga", servers: 1, agent: true, caDir: caDir})
	b := startRegionOpts(t, regionOpts{name: "gb", servers: 1, agent: true, caDir: caDir,
		serverArgs: []string{"--authoritative-region", "ga", "--federate", a.servers[0].rpc}})
	admin := a.servers[0].client()
	ctx := ctxT(t, 5*time.Minute)

	// $0.10 per vCPU-second and $2 of credit: 20 vCPU-seconds.
	const perVCPUSecond, credit = 100_000, 2_000_000 // micros
	team, err := admin.CreateTeam(ctx, "two-regions")
	if err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAPIKey(ctx, team.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetTeamPlan(ctx, team.ID, codeint.Plan{ID: "steep", Currency: "USD", VCPUSecondNanos: perVCPUSecond * 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddCredit(ctx, team.ID, "GRANT", credit, "", "grant-"+team.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetSpendLimits(ctx, team.ID, credit/4, 0); err != nil {
		t.Fatal(err)
	}
	ta := codeint.New("http://"+a.servers[0].http, key.Secret)
	tb := codeint.New("http://"+b.servers[0].http, key.Secret)
	eventually(t, 15*time.Second, "the team's key and account in gb", func() error {
		acct, err := tb.Account(ctx, "")
		if err == nil && (acct.Plan.ID != "steep" || acct.Limits == nil) {
			err = fmt.Errorf("gb's copy of the account: %+v", acct)
		}
		return err
	})
	clientOf := map[string]*codeint.Client{"ga": ta, "gb": tb}
	var all []*codeint.Sandbox // every sandbox the team ran

	t.Run("a limit only both regions together reach stops both within 30 s", func(t *testing.T) {
		// ga burns 25,000 micros a second: alone it would take 80 s to
		// use the credit; gb burns 200,000.
		sbA, err := ta.CreateSandbox(ctx, codeint.CreateSandboxInput{Region: "ga", VCPUs: 0.25, MemoryMB: 256})
		if err != nil {
			t.Fatal(err)
		}
		sbB, err := tb.CreateSandbox(ctx, codeint.CreateSandboxInput{Region: "gb", VCPUs: 2, MemoryMB: 256})
		if err != nil {
			t.Fatal(err)
		}
		stopped := map[string]*codeint.Sandbox{}
		eventually(t, 100*time.Second, "both sandboxes stopped", func() error {
			for _, sb := range []*codeint.Sandbox{sbA, sbB} {
				got, err := clientOf[sb.Region].Sandbox(ctx, sb.ID)
				if err != nil {
					return err
				}
				if got.State != "STOPPED" {
					return fmt.Errorf("%s in %s is %s", sb.ID, sb.Region, got.State)
				}
				stopped[sb.Region] = got
			}
			return nil
		})
		inA, inB := stopped["ga"], stopped["gb"]
		all = append(all, inA, inB)
		if inA.StopReason != "BUDGET_EXHAUSTED" || inB.StopReason != "BUDGET_EXHAUSTED" {
			t.Fatalf("stop reasons: ga %s, gb %s; want BUDGET_EXHAUSTED for both", inA.StopReason, inB.StopReason)
		}
		// When their running together used up the credit.
		ranOut := *inA.StartedAt
		for cost := 0.0; cost < credit; ranOut = ranOut.Add(10 * time.Millisecond) {
			cost = 0
			for _, sb := range []*codeint.Sandbox{inA, inB} {
				if ran := ranOut.Sub(*sb.StartedAt).Seconds(); ran > 0 {
					cost += ran * sb.VCPUs * perVCPUSecond
				}
			}
		}
		for _, sb := range []*codeint.Sandbox{inA, inB} {
			late := sb.StoppedAt.Sub(ranOut)
			t.Logf("%s: ran %v, stopped %v after the credit ran out", sb.Region, sb.StoppedAt.Sub(*sb.StartedAt).Round(time.Millisecond), late.Round(time.Millisecond))
			if late > 30*time.Second {
				t.Errorf("%s's sandbox stopped %v after the credit ran out: more than 30 s", sb.Region, late)
			}
		}
		if ran := inA.StoppedAt.Sub(*inA.StartedAt); ran > 60*time.Second {
			t.Fatalf("ga's sandbox ran %v: its own usage, not the team's, stopped it", ran)
		}
		for _, region := range []string{"ga", "gb"} {
			_, err := clientOf[region].CreateSandbox(ctx, codeint.CreateSandboxInput{Region: region})
			if codeint.CodeOf(err) != "RESOURCE_EXHAUSTED" {
				t.Errorf("a create in %s with the team's budget exhausted: %v, want RESOURCE_EXHAUSTED", region, err)
			}
		}
	})

	t.Run("cut off from the authoritative region, a region meters on and catches up once", func(t *testing.T) {
		if _, err := admin.AddCredit(ctx, team.ID, "TOP_UP", 1000*credit, "", "top-up-"+team.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "the top-up in gb", func() error {
			acct, err := tb.Account(ctx, "")
			if err == nil && acct.Budget != "OK" {
				err = fmt.Errorf("gb's budget is %s", acct.Budget)
			}
			return err
		})
		a.servers[0].proc.stop(t, syscall.SIGTERM)
		sb, err := tb.CreateSandbox(ctx, codeint.CreateSandboxInput{Region: "gb", VCPUs: 1, MemoryMB: 256})
		if err != nil {
			t.Fatalf("gb cannot create with ga down: %v", err)
		}
		time.Sleep(6 * time.Second)
		if _, err := tb.TerminateSandbox(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		a.servers[0].proc.start(t)
		a.waitLeader(t, 60*time.Second)
		all = append(all, sb)

		// Every sandbox fully metered in its region's ledger.
		var vcpuSeconds float64
		eventually(t, 60*time.Second, "every sandbox's last usage record", func() error {
			vcpuSeconds = 0
			for _, s := range all {
				got, err := clientOf[s.Region].Sandbox(ctx, s.ID)
				if err != nil {
					return err
				}
				if got.Usage == nil || !got.Usage.Final {
					return fmt.Errorf("%s in %s: usage %+v", s.ID, s.Region, got.Usage)
				}
				vcpuSeconds += got.Usage.VCPUSeconds
			}
			return nil
		})
		// Both regions charge the team every region's usage, once: the
		// price of every sandbox's metered vCPU-seconds (to a micro per
		// sandbox, the rounding of summing).
		want := int64(math.Round(vcpuSeconds * perVCPUSecond))
		eventually(t, 30*time.Second, "both regions charging all the team's usage", func() error {
			for region, c := range clientOf {
				acct, err := c.Account(ctx, "")
				if err != nil {
					return err
				}
				if d := acct.ChargedMicros - want; d < -int64(len(all)) || d > int64(len(all)) {
					return fmt.Errorf("%s charges %d micros, want %d (%.3f vCPU-s)", region, acct.ChargedMicros, want, vcpuSeconds)
				}
			}
			return nil
		})
	})
}
