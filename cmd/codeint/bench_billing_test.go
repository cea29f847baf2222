package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// BenchmarkBillingLag times, for a sandbox that ran about a second, how
// long after terminateSandbox returns its final usage record is in the
// ledger (Sandbox.usage.final), polled every 2 ms through GraphQL.
func BenchmarkBillingLag(b *testing.B) {
	d := startDev(b, newDataDir(b), "--pool-size", "2")
	c := d.client()
	ctx := context.Background()
	var lag []time.Duration
	for b.Loop() {
		b.StopTimer()
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		if _, err := c.TerminateSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		stopped := time.Now()
		b.StartTimer()
		for {
			got, err := c.Sandbox(ctx, sb.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Usage != nil && got.Usage.Final {
				break
			}
			if time.Since(stopped) > time.Minute {
				b.Fatalf("sandbox %s: no final usage record a minute after it stopped", sb.ID)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lag = append(lag, time.Since(stopped))
	}
	reportLatency(b, "stop-to-ledger", lag)
}

// BenchmarkReconcileAfterCrash runs CODEINT_BENCH_RECONCILE sandboxes
// (default 1,000) of random lifetimes (0 to 2 s) from 6 workers (under
// the node's cap of 8 starts in progress); halfway it kills codeint dev
// with SIGKILL while sandboxes run and batches are in flight, and starts it again on the same data dir: the usage log ships
// again what the ledger may already hold (duplicates, discarded by the
// ledger's high-water mark). Once every sandbox's final record is in, it
// reports `codeint billing reconcile`'s distribution of |billed seconds −
// lifecycle seconds| over all of them, how many were more than 1 s apart,
// and the duplicates the ledger discarded. It runs once whatever
// -benchtime says.
func BenchmarkReconcileAfterCrash(b *testing.B) {
	total := 1000
	if v, err := strconv.Atoi(os.Getenv("CODEINT_BENCH_RECONCILE")); err == nil && v > 0 {
		total = v
	}
	dir := newDataDir(b)
	d := startDev(b, dir, "--pool-size", "4")
	ctx := context.Background()
	run := func(c *codeint.Client, n int, seed uint64) {
		var wg sync.WaitGroup
		next := make(chan int)
		go func() {
			for i := range n {
				next <- i
			}
			close(next)
		}()
		for w := range 6 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for range next {
					sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
					if err != nil {
						b.Error(err)
						return
					}
					time.Sleep(time.Duration(r.IntN(2000)) * time.Millisecond)
					if _, err := c.TerminateSandbox(ctx, sb.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	run(d.client(), total/2, 1)
	// Sandboxes left running through the crash.
	for range 8 {
		if _, err := d.client().CreateSandbox(ctx, codeint.CreateSandboxInput{}); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	d.stop(b, syscall.SIGKILL)
	logs := d.logs.String()
	d = startDev(b, dir, "--pool-size", "4")
	run(d.client(), total-total/2, 2)

	var r reconcileReport
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sbs, err := d.client().ListSandboxes(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		if r = reconcile(sbs); r.Pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r.Pending > 0 {
		b.Fatalf("%d sandboxes without their final usage record two minutes after they stopped", r.Pending)
	}
	for _, row := range r.Outside {
		b.Logf("outside ±1 s: %+v", row)
	}
	dups := 0
	for _, line := range strings.Split(logs+d.logs.String(), "\n") {
		var ev struct {
			Event      string `json:"event"`
			Duplicates int    `json:"duplicates"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "usage_ingested" {
			dups += ev.Duplicates
		}
	}
	b.ReportMetric(float64(r.Compared), "sandboxes")
	b.ReportMetric(r.P50*1000, "absdiff-p50-ms")
	b.ReportMetric(r.P99*1000, "absdiff-p99-ms")
	b.ReportMetric(r.Max*1000, "absdiff-max-ms")
	b.ReportMetric(float64(len(r.Outside)), "outside-1s")
	b.ReportMetric(float64(dups), "duplicates")
}
