package main

import (
	"context"
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
