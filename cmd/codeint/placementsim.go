package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/codeint/codeint/placement/sim"
)

const placementSimulateUsage = `Usage:
  codeint placement simulate [--scenario FILE.json] [--seed N] [--duration D]
                             [--policies ours,random,e2b] [--json] [--print-scenario]

Runs the placement simulator (package placement/sim) and prints, per policy,
latency regret against an oracle, utilisation at the first rejection,
rejection rate, fragmentation, warm-pool hit rate and decisions per second.
A scenario file gives only what differs from the default scenario
(--print-scenario prints the default, a starting point); --seed and
--duration override the scenario's. The arrival ramp spans the run,
whatever its duration.

Flags:
`

// runPlacementSimulate is "codeint placement simulate".
func runPlacementSimulate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("placement simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, placementSimulateUsage)
		fs.PrintDefaults()
	}
	scenarioFile := fs.String("scenario", "", "JSON `file` of the scenario, over the default one")
	seed := fs.Uint64("seed", 0, "seed of the network, the workload and the baselines' draws (default: the scenario's)")
	duration := fs.Duration("duration", 0, "simulated time over which requests arrive, e.g. 10m (default: the scenario's)")
	policies := fs.String("policies", strings.Join(sim.PolicyNames(), ","), "policies to compare, comma-separated")
	asJSON := fs.Bool("json", false, "print the report as JSON (its scenario reads back with --scenario)")
	printScenario := fs.Bool("print-scenario", false, "print the scenario as JSON and exit without simulating")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("placement simulate: unexpected argument %q", fs.Arg(0))
	}
	sc := sim.DefaultScenario()
	if *scenarioFile != "" {
		data, err := os.ReadFile(*scenarioFile)
		if err != nil {
			return fmt.Errorf("placement simulate: %w", err)
		}
		if sc, err = sim.ParseScenario(data); err != nil {
			return fmt.Errorf("placement simulate: %s: %w", *scenarioFile, err)
		}
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "seed":
			sc.Seed = *seed
		case "duration":
			if *duration <= 0 {
				flagErr = fmt.Errorf("placement simulate: --duration must be positive, not %s", *duration)
			}
			sc.DurationSeconds = duration.Seconds()
		}
	})
	if flagErr != nil {
		return flagErr
	}
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("placement simulate: %w", err)
	}
	if *printScenario {
		return writeSimulateJSON(stdout, sc)
	}
	ps, err := sim.ParsePolicies(*policies)
	if err != nil {
		return fmt.Errorf("placement simulate: %w", err)
	}
	rep, err := sim.Compare(sc, ps...)
	if err != nil {
		return fmt.Errorf("placement simulate: %w", err)
	}
	if *asJSON {
		return writeSimulateJSON(stdout, rep)
	}
	return rep.WriteTable(stdout)
}

func writeSimulateJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("placement simulate: %w", err)
	}
	return nil
}
