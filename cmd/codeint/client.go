package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// newClient reads CODEINT_URL and CODEINT_API_KEY.
func newClient() (*codeint.Client, error) {
	url := os.Getenv("CODEINT_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	key := os.Getenv("CODEINT_API_KEY")
	if key == "" {
		return nil, errors.New("CODEINT_API_KEY is not set (codeint dev prints the admin key and writes it to DATA_DIR/admin.key)")
	}
	return codeint.New(url, key), nil
}

// language maps a CLI name (python, js, …) to the GraphQL enum value.
func language(name string) (string, error) {
	switch strings.ToLower(name) {
	case "python", "python3", "py":
		return codeint.Python, nil
	case "javascript", "js", "node":
		return codeint.JavaScript, nil
	case "typescript", "ts":
		return codeint.TypeScript, nil
	case "bash", "sh":
		return codeint.Bash, nil
	case "go":
		return codeint.Go, nil
	case "rust":
		return codeint.Rust, nil
	case "java":
		return codeint.Java, nil
	case "c":
		return codeint.C, nil
	case "cpp", "c++":
		return codeint.CPP, nil
	}
	return "", fmt.Errorf("unknown language %q (python, javascript, bash, …)", name)
}

func runSandbox(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return flag.ErrHelp
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		return sandboxCreate(ctx, c, args[1:], stdout, stderr)
	case "list", "ls":
		return sandboxList(ctx, c, args[1:], stdout, stderr)
	case "exec":
		return sandboxExec(ctx, c, args[1:], stdin, stdout, stderr)
	case "put":
		return sandboxPut(ctx, c, args[1:], stdin, stdout)
	case "get":
		return sandboxGet(ctx, c, args[1:], stdout)
	case "shell":
		return sandboxShell(ctx, c, args[1:], stdin, stdout)
	case "kill", "terminate", "rm":
		if len(args) != 2 {
			return errors.New("usage: codeint sandbox kill ID")
		}
		sb, err := c.TerminateSandbox(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s %s\n", sb.ID, sb.State, sb.StopReason)
		return nil
	}
	return fmt.Errorf("unknown sandbox command %q (create, list, exec, put, get, shell, kill)", args[0])
}

// createFlags are the flags of `sandbox create` and `run`.
type createFlags struct {
	template   string
	runtime    string
	timeout    int
	vcpus      float64
	memoryMB   int
	diskMB     int
	region     string
	regions    string
	maxLatency float64
	env        multiFlag
	selector   labelFlag
}

func (f *createFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.template, "template", "", "template (default base)")
	fs.StringVar(&f.runtime, "runtime", "", "runc or gvisor (default: the template's)")
	fs.IntVar(&f.timeout, "timeout", 0, "sandbox lifetime in seconds (default: the server's)")
	fs.Float64Var(&f.vcpus, "vcpus", 0, "vCPUs")
	fs.IntVar(&f.memoryMB, "memory-mb", 0, "memory in MiB")
	fs.IntVar(&f.diskMB, "disk-mb", 0, "disk in MiB")
	fs.StringVar(&f.region, "region", "", "the one region to use (default: the nearest with room)")
	fs.StringVar(&f.regions, "regions", "", "regions to prefer, best first, comma-separated (not with -region)")
	fs.Float64Var(&f.maxLatency, "max-latency-ms", 0, "the most estimated round trip to the sandbox's region, in ms")
	fs.Var(&f.env, "e", "NAME=VALUE environment variable (repeatable)")
	fs.Var(&f.selector, "node-selector", "KEY=VALUE label the node must carry (repeatable)")
}

func (f *createFlags) input() (codeint.CreateSandboxInput, error) {
	env, err := f.env.vars()
	return codeint.CreateSandboxInput{Template: f.template, Runtime: strings.ToUpper(f.runtime), TimeoutSeconds: f.timeout, VCPUs: f.vcpus,
		MemoryMB: f.memoryMB, DiskMB: f.diskMB, Env: env, Region: f.region, Regions: splitList(f.regions),
		MaxLatencyMs: f.maxLatency, NodeSelector: f.selector.labels()}, err
}

// multiFlag collects repeated NAME=VALUE flags.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
func (m multiFlag) vars() ([]codeint.EnvVar, error) {
	var out []codeint.EnvVar
	for _, kv := range m {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-e %q: want NAME=VALUE", kv)
		}
		out = append(out, codeint.EnvVar{Name: name, Value: value})
	}
	return out, nil
}

func sandboxCreate(ctx context.Context, c *codeint.Client, args []string, stdout, stderr io.Writer) error {
	var f createFlags
	fs := flag.NewFlagSet("sandbox create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	asJSON := fs.Bool("json", false, "print the sandbox as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in, err := f.input()
	if err != nil {
		return err
	}
	sb, err := c.CreateSandbox(ctx, in)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sb)
	}
	fmt.Fprintln(stdout, sb.ID)
	return nil
}

func sandboxList(ctx context.Context, c *codeint.Client, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "only sandboxes in this state (RUNNING, STOPPED, …)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	list, err := c.ListSandboxes(ctx, strings.ToUpper(*state))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tREASON\tTEMPLATE\tCREATED\tEXPIRES")
	for _, sb := range list {
		expires := "-"
		if sb.ExpiresAt != nil && !sb.ExpiresAt.IsZero() {
			expires = sb.ExpiresAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sb.ID, sb.State, dash(sb.StopReason), sb.Template,
			sb.CreatedAt.Local().Format(time.DateTime), expires)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// execFlags are the flags of `sandbox exec` and `run`.
type execFlags struct {
	code    string
	timeout int
	env     multiFlag
}

func (f *execFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.code, "c", "", "code to run (default: read from stdin)")
	fs.IntVar(&f.timeout, "exec-timeout", 0, "execution timeout in seconds (default: the server's)")
	fs.Var(&f.env, "exec-env", "NAME=VALUE for this execution (repeatable)")
}

// input builds the execution from the flags; without -c the code is stdin.
func (f *execFlags) input(lang string, stdin io.Reader) (codeint.ExecuteInput, error) {
	code := f.code
	if code == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return codeint.ExecuteInput{}, fmt.Errorf("read code from stdin: %w", err)
		}
		code = string(b)
	}
	env, err := f.env.vars()
	return codeint.ExecuteInput{Language: lang, Code: code, TimeoutSeconds: f.timeout, Env: env}, err
}

func sandboxExec(ctx context.Context, c *codeint.Client, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: codeint sandbox exec ID LANG [-c CODE]")
	}
	id := args[0]
	lang, err := language(args[1])
	if err != nil {
		return err
	}
	var f execFlags
	fs := flag.NewFlagSet("sandbox exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	in, err := f.input(lang, stdin)
	if err != nil {
		return err
	}
	return stream(ctx, c, id, in, stdout, stderr)
}

// stream runs in over the execution subscription, copying output as it
// arrives, and turns the result into the process's exit status.
func stream(ctx context.Context, c *codeint.Client, id string, in codeint.ExecuteInput, stdout, stderr io.Writer) error {
	res, err := c.StreamExecute(ctx, id, in, func(ch codeint.OutputChunk) {
		w := stdout
		if ch.Stream == codeint.Stderr {
			w = stderr
		}
		_, _ = io.WriteString(w, ch.Data)
	})
	if err != nil {
		return err
	}
	if res.Truncated {
		fmt.Fprintln(stderr, "codeint: output truncated")
	}
	if c := res.Compile; c != nil && c.ExitCode != 0 {
		// The compiler's output is not part of the streamed run output.
		_, _ = io.WriteString(stderr, c.Stdout+c.Stderr)
	}
	if res.Error != nil {
		fmt.Fprintf(stderr, "codeint: %s: %s\n", res.Error.Name, res.Error.Value)
	}
	if res.ExitCode != 0 {
		return exitError(res.ExitCode)
	}
	return nil
}

// runOnce creates a sandbox, runs the code streamed, and kills it.
func runOnce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cf createFlags
	var ef execFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf.register(fs)
	ef.register(fs)
	// Flags may stand before and after LANG: parse up to it, then the rest.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return errors.New("usage: codeint run [flags] LANG [flags] [-c CODE]")
	}
	lang, err := language(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (code goes in -c or on stdin)", fs.Args())
	}
	cin, err := cf.input()
	if err != nil {
		return err
	}
	ein, err := ef.input(lang, stdin)
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	sb, err := c.CreateSandbox(ctx, cin)
	if err != nil {
		return err
	}
	defer func() {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := c.TerminateSandbox(kctx, sb.ID); err != nil {
			fmt.Fprintf(stderr, "codeint: kill %s: %v\n", sb.ID, err)
		}
	}()
	return stream(ctx, c, sb.ID, ein, stdout, stderr)
}
