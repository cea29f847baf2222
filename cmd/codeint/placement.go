package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
)

// runPlacement runs `codeint placement explain|simulate`.
func runPlacement(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return flag.ErrHelp
	}
	switch args[0] {
	case "explain":
		return placementExplain(ctx, args[1:], stdout, stderr)
	case "simulate":
		return runPlacementSimulate(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usageText)
	return fmt.Errorf("unknown placement command %q (explain, simulate)", args[0])
}

// placementExplain asks the API where a sandbox would go (placementPreview)
// and prints the explanation.
func placementExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f createFlags
	fs := flag.NewFlagSet("placement explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	asJSON := fs.Bool("json", false, "print the placement as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in, err := f.input()
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	p, err := c.PlacementPreview(ctx, in)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(p)
	}
	fmt.Fprintln(stdout, p.Explanation)
	return nil
}
