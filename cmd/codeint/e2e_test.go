package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestDev drives one `codeint dev` process over real HTTP and WebSocket.
func TestDev(t *testing.T) {
	d := startDev(t, newDataDir(t))
	c := d.client()
	ctx := ctxT(t, 5*time.Minute)

	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Env: []codeint.EnvVar{{Name: "GREETING", Value: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != codeint.StateRunning || sb.ID == "" || sb.Template != "base" || sb.Region != "local" {
		t.Fatalf("created %+v", sb)
	}

	t.Run("languages", func(t *testing.T) {
		for _, tc := range []struct {
			lang, code, stdout, stderr string
			exit                       int
		}{
			{codeint.Python, "import sys\nprint('py', 6*7)\nprint('oops', file=sys.stderr)\nsys.exit(3)", "py 42\n", "oops\n", 3},
			{codeint.JavaScript, "console.log('js', 6*7); console.error('oops'); process.exitCode = 4", "js 42\n", "oops\n", 4},
			{codeint.Bash, "echo bash $((6*7)) $GREETING; echo oops >&2; exit 5", "bash 42 hi\n", "oops\n", 5},
		} {
			t.Run(tc.lang, func(t *testing.T) {
				res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: tc.lang, Code: tc.code})
				if err != nil {
					t.Fatal(err)
				}
				if res.Stdout != tc.stdout || res.Stderr != tc.stderr || res.ExitCode != tc.exit || res.Truncated {
					t.Fatalf("got stdout %q stderr %q exit %d truncated %v", res.Stdout, res.Stderr, res.ExitCode, res.Truncated)
				}
				if res.Metrics.DurationMs <= 0 || res.ID == "" {
					t.Fatalf("metrics %+v id %q", res.Metrics, res.ID)
				}
			})
		}
	})

	t.Run("stdin and env", func(t *testing.T) {
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Stdin: "world\n",
			Code: "import os\nprint('hello', input(), os.environ['X'])", Env: []codeint.EnvVar{{Name: "X", Value: "y"}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "hello world y\n" {
			t.Fatalf("stdout %q", res.Stdout)
		}
	})

	t.Run("stream over websocket", func(t *testing.T) {
		type seen struct {
			data string
			at   time.Time
		}
		var chunks []seen
		res, err := c.StreamExecute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python,
			Code: "import time\nprint('a')\ntime.sleep(0.5)\nprint('b')"}, func(ch codeint.OutputChunk) {
			chunks = append(chunks, seen{ch.Data, time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		var all strings.Builder
		for _, ch := range chunks {
			all.WriteString(ch.data)
		}
		if all.String() != "a\nb\n" || res.Stdout != "a\nb\n" {
			t.Fatalf("chunks %q, result stdout %q", all.String(), res.Stdout)
		}
		if lead := end.Sub(chunks[0].at); lead < 300*time.Millisecond {
			t.Fatalf("first chunk arrived only %v before the result: output is not streamed live", lead)
		}
	})

	t.Run("stream event order over SSE and websocket", func(t *testing.T) {
		q := `subscription ($id: ID!) { execution(sandboxId: $id, input: {language: BASH, code: "echo one; sleep 0.2; echo two >&2; echo three"}) {
  __typename ... on OutputChunk { stream data seq } ... on ExecutionResult { stdout exitCode } } }`
		for name, subscribe := range map[string]func(context.Context, string, map[string]any) (*codeint.Subscription, error){
			"sse": c.SubscribeSSE, "ws": c.Subscribe,
		} {
			t.Run(name, func(t *testing.T) {
				sub, err := subscribe(ctx, q, map[string]any{"id": sb.ID})
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				var types []string
				lastSeq := 0
				for {
					raw, err := sub.Next(ctx)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					var ev struct {
						Execution struct {
							Typename string `json:"__typename"`
							Seq      int    `json:"seq"`
							Stdout   string `json:"stdout"`
						} `json:"execution"`
					}
					if err := json.Unmarshal(raw, &ev); err != nil {
						t.Fatal(err)
					}
					types = append(types, ev.Execution.Typename)
					if ev.Execution.Typename == "OutputChunk" {
						if ev.Execution.Seq <= lastSeq {
							t.Fatalf("seq %d after %d", ev.Execution.Seq, lastSeq)
						}
						lastSeq = ev.Execution.Seq
					}
					if ev.Execution.Typename == "ExecutionResult" && ev.Execution.Stdout != "one\nthree\n" {
						t.Fatalf("result stdout %q", ev.Execution.Stdout)
					}
				}
				if len(types) < 4 || types[0] != "ExecutionStarted" || types[len(types)-1] != "ExecutionResult" {
					t.Fatalf("event types %v", types)
				}
				for _, ty := range types[1 : len(types)-1] {
					if ty != "OutputChunk" {
						t.Fatalf("event types %v", types)
					}
				}
			})
		}
	})

	t.Run("execution timeout", func(t *testing.T) {
		start := time.Now()
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, TimeoutSeconds: 1,
			Code: "import time\nprint('before', flush=True)\ntime.sleep(30)"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Error == nil || res.Error.Name != "TIMEOUT" || res.Stdout != "before\n" {
			t.Fatalf("result %+v", res)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("the timeout took %v to kill", took)
		}
		cur, err := c.Sandbox(ctx, sb.ID)
		if err != nil || cur.State != codeint.StateRunning {
			t.Fatalf("sandbox after execution timeout: %+v %v", cur, err)
		}
	})

	t.Run("output cap", func(t *testing.T) {
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python,
			Code: "import sys\nsys.stdout.write('x' * (3 << 20))"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Truncated || len(res.Stdout) != 1<<20 {
			t.Fatalf("truncated %v, kept %d bytes", res.Truncated, len(res.Stdout))
		}
	})

	t.Run("sandbox lifetime and setSandboxTimeout", func(t *testing.T) {
		short, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 2})
		if err != nil {
			t.Fatal(err)
		}
		kept, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetSandboxTimeout(ctx, kept.ID, 120); err != nil {
			t.Fatal(err)
		}
		// A long execution is cut by the sandbox's end.
		_, err = c.Execute(ctx, short.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "sleep 20"})
		wantCode(t, err, codeint.CodeFailedPrecondition)
		got := waitStopped(t, c, short.ID, 15*time.Second)
		if got.StopReason != "TIMEOUT" {
			t.Fatalf("stopReason %q, want TIMEOUT", got.StopReason)
		}
		if l := d.leftovers(t, short.ID); len(l) > 0 {
			t.Fatalf("left on the host after the timeout: %v", l)
		}
		_, err = c.Execute(ctx, short.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "true"})
		wantCode(t, err, codeint.CodeFailedPrecondition)
		if cur, _ := c.Sandbox(ctx, kept.ID); cur.State != codeint.StateRunning {
			t.Fatalf("extended sandbox is %s", cur.State)
		}
	})

	t.Run("sandbox events and terminate", func(t *testing.T) {
		victim, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := c.Subscribe(ctx, `subscription ($id: ID) { sandboxEvents(sandboxId: $id) { type sandbox { id state stopReason } } }`,
			map[string]any{"id": victim.ID})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		time.Sleep(100 * time.Millisecond) // let the subscription attach
		term, err := c.TerminateSandbox(ctx, victim.ID)
		if err != nil {
			t.Fatal(err)
		}
		if term.State != codeint.StateStopped || term.StopReason != "TERMINATED" {
			t.Fatalf("terminated %+v", term)
		}
		var states []string
		for len(states) < 2 {
			raw, err := sub.Next(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatalf("after %v: %v", states, err)
			}
			var ev struct {
				SandboxEvents codeint.SandboxEvent `json:"sandboxEvents"`
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			states = append(states, ev.SandboxEvents.Sandbox.State)
		}
		if states[0] != codeint.StateStopping || states[1] != codeint.StateStopped {
			t.Fatalf("event states %v", states)
		}
		if l := d.leftovers(t, victim.ID); len(l) > 0 {
			t.Fatalf("left on the host after terminate: %v", l)
		}
		// Terminating again is harmless.
		if again, err := c.TerminateSandbox(ctx, victim.ID); err != nil || again.State != codeint.StateStopped {
			t.Fatalf("second terminate: %+v %v", again, err)
		}
	})

	t.Run("bad input", func(t *testing.T) { testBadInput(t, d, c, sb.ID) })
	t.Run("cli", func(t *testing.T) { testCLI(t, d) })

	t.Run("usage and metrics", func(t *testing.T) {
		var data struct {
			Usage struct {
				SandboxSeconds float64 `json:"sandboxSeconds"`
				Sandboxes      int     `json:"sandboxes"`
				CostMicros     int64   `json:"costMicros"`
			} `json:"usage"`
		}
		err := c.Do(ctx, `query ($from: Time!, $to: Time!) { usage(from: $from, to: $to) { sandboxSeconds sandboxes costMicros } }`,
			map[string]any{"from": time.Now().Add(-time.Hour), "to": time.Now().Add(time.Minute)}, &data)
		if err != nil {
			t.Fatal(err)
		}
		if data.Usage.Sandboxes < 1 || data.Usage.SandboxSeconds <= 0 || data.Usage.CostMicros <= 0 {
			t.Fatalf("usage %+v", data.Usage)
		}
		resp, err := http.Get(d.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`executions_total{language="PYTHON",outcome="ok"}`, "execution_duration_seconds_bucket",
			"sandbox_creation_seconds_bucket", `sandboxes{state="RUNNING"}`, "execution_errors_total", `timeout_errors_total{kind="execution"}`,
			`timeout_errors_total{kind="sandbox"}`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		logs := d.logs.String()
		for _, want := range []string{`"sandbox_id":"` + sb.ID, `"team_id":"team_admin"`, `"event":"code_execution_start"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %s", want)
			}
		}
	})
}

func waitStopped(t *testing.T, c *codeint.Client, id string, within time.Duration) *codeint.Sandbox {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		sb, err := c.Sandbox(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if sb.State == codeint.StateStopped {
			return sb
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox %s still %s after %v", id, sb.State, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testBadInput(t *testing.T, d *devProc, c *codeint.Client, sbID string) {
	ctx := ctxT(t, 2*time.Minute)
	count := func() int {
		var data struct {
			Sandboxes struct {
				TotalCount int `json:"totalCount"`
			} `json:"sandboxes"`
		}
		if err := c.Do(ctx, `{ sandboxes { totalCount } }`, nil, &data); err != nil {
			t.Fatal(err)
		}
		return data.Sandboxes.TotalCount
	}
	before := count()

	t.Run("unauthenticated", func(t *testing.T) {
		for _, key := range []string{"", "ci_wrong0000000000000000000000000000000000000"} {
			_, err := codeint.New(d.url, key).Viewer(ctx)
			wantCode(t, err, codeint.CodeUnauthenticated)
			var e *codeint.Error
			if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HTTP status of %v: want 401", err)
			}
			_, err = codeint.New(d.url, key).Subscribe(ctx, `subscription { sandboxEvents { type } }`, nil)
			if err == nil || !errors.As(err, &e) || e.CloseCode != 4403 {
				t.Fatalf("websocket with key %q: %v, want close 4403", key, err)
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		_, err := c.Sandbox(ctx, "sb_nope")
		wantCode(t, err, codeint.CodeNotFound)
		_, err = c.Execute(ctx, "sb_nope", codeint.ExecuteInput{Language: codeint.Python, Code: "1"})
		wantCode(t, err, codeint.CodeNotFound)
		_, err = c.TerminateSandbox(ctx, "sb_nope")
		wantCode(t, err, codeint.CodeNotFound)
	})

	t.Run("another team's sandbox", func(t *testing.T) {
		team, err := c.CreateTeam(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		k, err := c.CreateAPIKey(ctx, team.ID, "other-key")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.Secret, "ci_") {
			t.Fatalf("key %q lacks the ci_ prefix", k.Secret)
		}
		other := codeint.New(d.url, k.Secret)
		v, err := other.Viewer(ctx)
		if err != nil || v.Team.ID != team.ID {
			t.Fatalf("viewer %+v %v", v, err)
		}
		_, err = other.Sandbox(ctx, sbID)
		wantCode(t, err, codeint.CodeNotFound)
		_, err = other.Execute(ctx, sbID, codeint.ExecuteInput{Language: codeint.Python, Code: "1"})
		wantCode(t, err, codeint.CodeNotFound)
		_, err = other.TerminateSandbox(ctx, sbID)
		wantCode(t, err, codeint.CodeNotFound)
		_, err = other.SetSandboxTimeout(ctx, sbID, 10)
		wantCode(t, err, codeint.CodeNotFound)
		if list, err := other.ListSandboxes(ctx, ""); err != nil || len(list) != 0 {
			t.Fatalf("other team lists %d sandboxes (%v)", len(list), err)
		}
		sub, err := other.Subscribe(ctx, `subscription ($id: ID) { sandboxEvents(sandboxId: $id) { type } }`, map[string]any{"id": sbID})
		if err == nil {
			defer sub.Close()
			_, err = sub.Next(ctxT(t, 10*time.Second))
		}
		wantCode(t, err, codeint.CodeNotFound)
		_, err = other.CreateTeam(ctx, "x")
		wantCode(t, err, "PERMISSION_DENIED")
	})

	t.Run("invalid arguments", func(t *testing.T) {
		for name, in := range map[string]codeint.ExecuteInput{
			"empty code":       {Language: codeint.Python},
			"code over 1 MiB":  {Language: codeint.Python, Code: strings.Repeat("#", 1<<20+1)},
			"negative timeout": {Language: codeint.Python, Code: "1", TimeoutSeconds: -1},
			"relative cwd":     {Language: codeint.Python, Code: "1", Cwd: "tmp"},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := c.Execute(ctx, sbID, in)
				wantCode(t, err, codeint.CodeInvalidArgument)
			})
		}
		err := c.Do(ctx, `mutation ($id: ID!) { execute(sandboxId: $id, input: {language: COBOL, code: "x"}) { id } }`,
			map[string]any{"id": sbID}, nil)
		wantCode(t, err, codeint.CodeInvalidArgument)
		err = c.Do(ctx, `mutation ($id: ID!, $in: ExecuteInput!) { execute(sandboxId: $id, input: $in) { id } }`,
			map[string]any{"id": sbID, "in": map[string]any{"language": "COBOL", "code": "x"}}, nil)
		wantCode(t, err, codeint.CodeInvalidArgument)
		for name, in := range map[string]codeint.CreateSandboxInput{
			"negative timeout": {TimeoutSeconds: -5},
			"too long":         {TimeoutSeconds: 31 * 60},
			"unknown template": {Template: "nope"},
		} {
			_, err := c.CreateSandbox(ctx, in)
			if codeint.CodeOf(err) != codeint.CodeInvalidArgument {
				t.Fatalf("create with %s: %v", name, err)
			}
		}
		_, err = c.SetSandboxTimeout(ctx, sbID, -1)
		wantCode(t, err, codeint.CodeInvalidArgument)
		if after := count(); after != before {
			t.Fatalf("bad input left %d sandboxes behind", after-before)
		}
	})
}

func testCLI(t *testing.T, d *devProc) {
	bin := filepath.Join(binDir, "codeint")
	cli := func(stdin string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "CODEINT_URL="+d.url, "CODEINT_API_KEY="+d.key)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("codeint %v: %v", args, err)
		}
		return string(out), 0
	}
	if out, code := cli("", "run", "python", "-c", "print(1)"); out != "1\n" || code != 0 {
		t.Fatalf("codeint run: %q exit %d", out, code)
	}
	if out, code := cli("", "run", "--memory-mb", "256", "bash", "-c", "echo x; exit 7"); out != "x\n" || code != 7 {
		t.Fatalf("codeint run with exit 7: %q exit %d", out, code)
	}
	id, _ := cli("", "sandbox", "create")
	id = strings.TrimSpace(id)
	if !strings.HasPrefix(id, "sb_") {
		t.Fatalf("sandbox create printed %q", id)
	}
	if out, _ := cli("", "sandbox", "list"); !strings.Contains(out, id) || !strings.Contains(out, "RUNNING") {
		t.Fatalf("sandbox list:\n%s", out)
	}
	if out, code := cli("console.log(2+3)", "sandbox", "exec", id, "js"); out != "5\n" || code != 0 {
		t.Fatalf("sandbox exec from stdin: %q exit %d", out, code)
	}
	local := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(local, []byte("file body\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cli("", "sandbox", "put", id, local, "/tmp/in.txt"); !strings.HasPrefix(out, "/tmp/in.txt 10 ") || code != 0 {
		t.Fatalf("sandbox put: %q exit %d", out, code)
	}
	if out, code := cli("", "sandbox", "get", id, "/tmp/in.txt"); out != "file body\n" || code != 0 {
		t.Fatalf("sandbox get: %q exit %d", out, code)
	}
	if out, code := cli("echo from-$((6*7))\nexit 3\n", "sandbox", "shell", id, "bash", "--norc", "--noprofile"); !strings.Contains(out, "from-42") || code != 3 {
		t.Fatalf("sandbox shell: %q exit %d", out, code)
	}
	if out, _ := cli("", "sandbox", "kill", id); !strings.Contains(out, "STOPPED") {
		t.Fatalf("sandbox kill: %q", out)
	}
}
