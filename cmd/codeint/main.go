package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `codeint — run code you did not write, isolated.

Usage:
  codeint dev [flags]                      the whole platform on this machine
  codeint server [flags]                   a server of a region's Raft cluster
  codeint agent [flags]                    a node agent that runs sandboxes for its region
  codeint operator raft|snapshot …         cluster operations (list-peers, remove-peer, save, restore)
  codeint tls ca|cert create …             the certificates of mutual TLS between servers and agents
  codeint placement explain [flags]        where a sandbox would be placed, and why (a dry run)
  codeint placement simulate [flags]       placement policies side by side on a simulated cluster
  codeint billing reconcile [--json]       billed seconds against each stopped sandbox's lifecycle (±1 s)
  codeint sandbox create [flags]           create a sandbox, print its id
  codeint sandbox list [--state S]         list your sandboxes
  codeint sandbox exec ID LANG [-c CODE]   run code in a sandbox (code from -c or stdin), streamed
  codeint sandbox put ID LOCAL|- PATH      upload a file (any size) into a sandbox
  codeint sandbox get ID PATH [LOCAL]      download a file (to stdout without LOCAL), SHA-256 checked
  codeint sandbox shell ID [PROGRAM…]      a terminal in the sandbox (bash by default)
  codeint sandbox kill ID                  terminate a sandbox
  codeint run LANG -c CODE                 create, run (streamed), kill in one go

Languages: python, javascript (js), typescript (ts), bash, go, rust, java, c, cpp;
compiled ones print the compiler's messages when the compile fails.
Client commands use CODEINT_URL (default http://127.0.0.1:8080) and CODEINT_API_KEY.
Run 'codeint COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "codeint:", err)
		os.Exit(1)
	}
}

// exitError makes main exit with a code without printing anything more,
// e.g. the exit code of the code a client command ran.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return flag.ErrHelp
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "server":
		return runServer(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "operator":
		return runOperator(ctx, args[1:], stdout, stderr)
	case "tls":
		return runTLS(ctx, args[1:], stdout, stderr)
	case "placement":
		return runPlacement(ctx, args[1:], stdout, stderr)
	case "billing":
		return runBilling(ctx, args[1:], stdout, stderr)
	case "sandbox", "sandboxes", "sb":
		return runSandbox(ctx, args[1:], stdin, stdout, stderr)
	case "run":
		return runOnce(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprint(stderr, usageText)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
