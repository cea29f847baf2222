package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// reconcileTolerance is how far a sandbox's billed seconds may be from its
// lifecycle (RUNNING → STOPPED).
const reconcileTolerance = 1.0

// reconcileRow compares one stopped sandbox's billed seconds with its
// lifecycle.
type reconcileRow struct {
	SandboxID string  `json:"sandboxId"`
	Lifecycle float64 `json:"lifecycleSeconds"`
	Billed    float64 `json:"billedSeconds"`
	Diff      float64 `json:"diffSeconds"`
}

// reconcileReport is what `codeint billing reconcile` prints.
type reconcileReport struct {
	Compared int            `json:"compared"`
	Pending  int            `json:"pending"` // stopped, final record not in the ledger yet
	Within   int            `json:"within"`  // |diff| ≤ 1 s
	P50      float64        `json:"p50AbsDiffSeconds"`
	P99      float64        `json:"p99AbsDiffSeconds"`
	Max      float64        `json:"maxAbsDiffSeconds"`
	Outside  []reconcileRow `json:"outside"` // |diff| > 1 s
}

// runBilling runs `codeint billing reconcile`.
func runBilling(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reconcile" {
		fmt.Fprint(stderr, usageText)
		return fmt.Errorf("usage: codeint billing reconcile [--json]")
	}
	fs := flag.NewFlagSet("billing reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	sbs, err := c.ListSandboxes(ctx, "") // STOPPED, FAILED and LOST ones all have a lifecycle that ended
	if err != nil {
		return err
	}
	r := reconcile(sbs)
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(r); err != nil {
			return err
		}
	} else {
		printReconcile(stdout, r)
	}
	if len(r.Outside) > 0 {
		return exitError(1)
	}
	return nil
}

// reconcile compares the metered seconds of every sandbox whose run
// ended (stopped, failed after it ran, lost) with its lifecycle.
func reconcile(sbs []*codeint.Sandbox) reconcileReport {
	var r reconcileReport
	var diffs []float64
	for _, sb := range sbs {
		if sb.StartedAt == nil || sb.StoppedAt == nil {
			continue // never ran
		}
		if sb.Usage == nil || !sb.Usage.Final {
			r.Pending++
			continue
		}
		row := reconcileRow{SandboxID: sb.ID, Lifecycle: sb.StoppedAt.Sub(*sb.StartedAt).Seconds(), Billed: sb.Usage.SandboxSeconds}
		row.Diff = row.Billed - row.Lifecycle
		abs := math.Abs(row.Diff)
		diffs = append(diffs, abs)
		r.Max = max(r.Max, abs)
		if abs <= reconcileTolerance {
			r.Within++
		} else {
			r.Outside = append(r.Outside, row)
		}
	}
	r.Compared = len(diffs)
	if len(diffs) > 0 {
		slices.Sort(diffs)
		r.P50, r.P99 = diffs[len(diffs)/2], diffs[(len(diffs)*99)/100]
	}
	return r
}

func printReconcile(w io.Writer, r reconcileReport) {
	fmt.Fprintf(w, "%d stopped sandboxes compared, %d within ±%g s, %d pending (final record not in yet)\n",
		r.Compared, r.Within, reconcileTolerance, r.Pending)
	fmt.Fprintf(w, "|billed − lifecycle|: p50 %.3f s, p99 %.3f s, max %.3f s\n", r.P50, r.P99, r.Max)
	if len(r.Outside) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SANDBOX\tLIFECYCLE S\tBILLED S\tDIFF S")
	for _, row := range r.Outside {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%+.3f\n", row.SandboxID, row.Lifecycle, row.Billed, row.Diff)
	}
	tw.Flush()
}
