package childinit

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Arg is the first argument that makes envd run Main instead of serving.
const Arg = "__codeint_exec_child"

// exitSetupFailed is the exit status when the child could not be set up,
// as a shell reports a command it found but could not execute.
const exitSetupFailed = 126

// Options is what Main does before it execs the program.
type Options struct {
	SetOOMScore bool   // write OOMScoreAdj to /proc/self/oom_score_adj
	OOMScoreAdj int    // -1000..1000; only raising it needs no privilege
	CPUSeconds  uint64 // RLIMIT_CPU soft limit; the hard limit is one more second; 0 = none
}

// Args returns the argv that makes envd at self run Main with opts and
// then exec argv.
func Args(self string, opts Options, argv []string) []string {
	oom := "-"
	if opts.SetOOMScore {
		oom = strconv.Itoa(opts.OOMScoreAdj)
	}
	return append([]string{self, Arg, oom, strconv.FormatUint(opts.CPUSeconds, 10), "--"}, argv...)
}

// Main runs in the child that Args described (os.Args[1] == Arg): it
// applies the options and execs the program. It never returns; on failure
// it writes to stderr (the execution's stderr) and exits 126.
func Main(args []string) {
	opts, argv, err := parse(args)
	if err == nil {
		err = apply(opts)
	}
	if err == nil {
		err = syscall.Exec(argv[0], argv, os.Environ())
		err = fmt.Errorf("exec %s: %w", argv[0], err)
	}
	fmt.Fprintf(os.Stderr, "codeint: cannot start the program: %v\n", err)
	os.Exit(exitSetupFailed)
}

// parse reads [Arg, oomScoreAdj or "-", cpuSeconds, "--", argv...] as
// Args wrote it.
func parse(args []string) (Options, []string, error) {
	if len(args) < 5 || args[0] != Arg || args[3] != "--" {
		return Options{}, nil, fmt.Errorf("malformed child arguments %q", args)
	}
	var opts Options
	if args[1] != "-" {
		adj, err := strconv.Atoi(args[1])
		if err != nil || adj < -1000 || adj > 1000 {
			return Options{}, nil, fmt.Errorf("oom_score_adj %q out of range", args[1])
		}
		opts.SetOOMScore, opts.OOMScoreAdj = true, adj
	}
	cpu, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return Options{}, nil, fmt.Errorf("cpu seconds %q: %w", args[2], err)
	}
	opts.CPUSeconds = cpu
	return opts, args[4:], nil
}

func apply(opts Options) error {
	if opts.SetOOMScore {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(opts.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj: %w", err)
		}
	}
	if opts.CPUSeconds > 0 {
		// The soft limit delivers SIGXCPU (fatal unless handled); the
		// hard limit a second later is a SIGKILL nothing can catch.
		lim := syscall.Rlimit{Cur: opts.CPUSeconds, Max: opts.CPUSeconds + 1}
		if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &lim); err != nil {
			return fmt.Errorf("set RLIMIT_CPU: %w", err)
		}
	}
	return nil
}
