package hostile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agent"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"golang.org/x/sys/unix"
)

const runcPath = "/usr/local/bin/runc"

// runtimes is the table every case runs over, one subtest each.
var runtimes = []agentapi.Runtime{agentapi.RuntimeRunc, agentapi.RuntimeGVisor}

// uidBases keeps this suite's sandboxes on host uids no other test on the
// host uses (they default to 100000), so a host-side scan by uid range finds
// only ours.
var uidBases = map[agentapi.Runtime]uint32{
	agentapi.RuntimeRunc:   1_200_000_000,
	agentapi.RuntimeGVisor: 1_400_000_000,
}

// secretEnv is set in the test process's environment, which the agent and
// the runtimes inherit: no sandbox may ever see its value.
const secretEnv = "CODEINT_HOSTILE_HOST_SECRET"

// suiteEnv is what TestMain prepares, written once before any test runs.
type suiteEnv struct {
	base        string // 0711 directory for everything this suite writes
	envdPath    string
	runscPath   string
	canaryPath  string // a host file no sandbox may read or change
	canary      string // its content
	secret      string // value of secretEnv
	hostRelease string // the host kernel's uname -r
}

var env suiteEnv

// worlds holds one agent, victim and neighbour per runtime, created by the
// first case that needs them and closed by TestMain.
var worlds = struct {
	mu   sync.Mutex
	m    map[agentapi.Runtime]*world
	errs map[agentapi.Runtime]error
}{m: map[agentapi.Runtime]*world{}, errs: map[agentapi.Runtime]error{}}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "nodeagent/hostile:", err)
		return 1
	}
	defer os.RemoveAll(env.base)
	watched := watchedFiles()
	before := hashFiles(watched)
	code := m.Run()
	closeWorlds()
	// The runtimes must come out of the whole suite as they went in
	// (CVE-2019-5736: a container overwriting runc through /proc/self/exe).
	after := hashFiles(watched)
	for _, p := range watched {
		if before[p] != after[p] {
			fmt.Fprintf(os.Stderr, "nodeagent/hostile: %s changed during the suite: sha256 %s -> %s\n", p, before[p], after[p])
			code = 1
		}
	}
	return code
}

func setup() error {
	if os.Geteuid() != 0 {
		return errors.New("the hostile suite runs real sandboxes: run it as root on Linux")
	}
	if _, err := os.Stat(runcPath); err != nil {
		return fmt.Errorf("runc not found at %s: install runc >= 1.3 (go install github.com/opencontainers/runc@v1.3.4 with libseccomp-dev, -tags seccomp): %w", runcPath, err)
	}
	runsc, err := exec.LookPath("runsc")
	if err != nil {
		return fmt.Errorf("gVisor's runsc not found on PATH: install it (Debian: apt-get install runsc): %w", err)
	}
	dir, err := os.MkdirTemp("", "codeint-hostile-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o711); err != nil { // the sandbox's uid reaches the bind sources
		return err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return err
	}
	env = suiteEnv{
		base:        dir,
		envdPath:    filepath.Join(dir, "envd"),
		runscPath:   runsc,
		canaryPath:  filepath.Join(dir, "host-canary"),
		canary:      "host-canary-" + token(),
		secret:      "host-secret-" + token(),
		hostRelease: unix.ByteSliceToString(uts.Release[:]),
	}
	if err := os.WriteFile(env.canaryPath, []byte(env.canary), 0o600); err != nil {
		return err
	}
	if err := os.Setenv(secretEnv, env.secret); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", env.envdPath, "github.com/codeint/codeint/cmd/envd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build envd: %v\n%s", err, out)
	}
	return nil
}

// token returns 16 random hex digits, to make markers no sandbox can guess.
func token() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// world is one runtime's agent with its long-lived victim and neighbour.
// The subtests of one runtime run one at a time, so a world is used by one
// goroutine at a time.
type world struct {
	rt      agentapi.Runtime
	a       *agent.Agent
	dataDir string
	parent  string // cgroup parent
	exits   *exitLog
	seq     atomic.Int64

	victim string
	nb     *neighbour
}

func worldFor(t *testing.T, rt agentapi.Runtime) *world {
	t.Helper()
	worlds.mu.Lock()
	defer worlds.mu.Unlock()
	if err := worlds.errs[rt]; err != nil {
		t.Fatalf("agent for %s: %v", rt, err)
	}
	if w := worlds.m[rt]; w != nil {
		return w
	}
	w, err := newWorld(rt)
	if err != nil {
		worlds.errs[rt] = err
		t.Fatalf("agent for %s: %v", rt, err)
	}
	worlds.m[rt] = w
	return w
}

func newWorld(rt agentapi.Runtime) (*world, error) {
	name := strings.ToLower(string(rt))
	dir := filepath.Join(env.base, name)
	if err := os.Mkdir(dir, 0o711); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	w := &world{rt: rt, dataDir: dir, parent: fmt.Sprintf("codeint-hostile-%d-%s", os.Getpid(), name), exits: &exitLog{}}
	a, err := agent.New(agent.Config{
		NodeID:       "hostile-" + name,
		DataDir:      dir,
		RuncPath:     runcPath,
		RunscPath:    env.runscPath,
		EnvdPath:     env.envdPath,
		UIDBase:      uidBases[rt],
		CgroupParent: w.parent,
		Logger:       logger(name),
		OnExit:       w.exits.record,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Reconcile(ctx); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	w.a = a
	return w, nil
}

func closeWorlds() {
	worlds.mu.Lock()
	defer worlds.mu.Unlock()
	for _, w := range worlds.m {
		if err := w.a.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "nodeagent/hostile: close the %s agent: %v\n", w.rt, err)
		}
		removeCgroupParent(w.parent)
	}
}

func logger(name string) *slog.Logger {
	if os.Getenv("CODEINT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("runtime", name)
}

// exitLog records the sandboxes that ended on their own.
type exitLog struct {
	mu  sync.Mutex
	ids map[string]string
}

func (e *exitLog) record(id, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ids == nil {
		e.ids = map[string]string{}
	}
	e.ids[id] = reason
}

func (e *exitLog) reason(id string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.ids[id]
	return r, ok
}

// forEachRuntime runs one case under every runtime, the runtimes in
// parallel. Around the case it makes sure the neighbour runs, and after it
// (even when the case failed) checks that the host and the neighbour are
// unharmed.
func forEachRuntime(t *testing.T, attack func(t *testing.T, w *world)) {
	for _, rt := range runtimes {
		t.Run(string(rt), func(t *testing.T) {
			t.Parallel()
			w := worldFor(t, rt)
			w.ensureNeighbour(t)
			before := snapshotHost(t)
			defer func() {
				w.checkHost(t, before)
				w.checkNeighbour(t)
			}()
			attack(t, w)
		})
	}
}

// start starts a sandbox of the world's runtime and checks that it really
// runs under that runtime. The caller stops it.
func (w *world) start(t *testing.T, name string, req agentapi.StartRequest) string {
	t.Helper()
	req.SandboxID = fmt.Sprintf("hostile-%s-%s-%d", strings.ToLower(string(w.rt)), name, w.seq.Add(1))
	req.Runtime = w.rt
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.a.StartSandbox(ctx, req); err != nil {
		if errors.Is(err, agentapi.ErrRuntimeUnavailable) {
			t.Fatalf("StartSandbox(runtime %s): %v: install runsc (Debian: apt-get install runsc)", w.rt, err)
		}
		t.Fatalf("StartSandbox(%s, runtime %s): %v", req.SandboxID, w.rt, err)
	}
	if err := w.checkRuntime(req.SandboxID); err != nil {
		w.stop(t, req.SandboxID)
		t.Fatal(err)
	}
	return req.SandboxID
}

// checkRuntime tells runc from gVisor by the kernel that answers uname:
// under runc it is the host's, under gVisor the Sentry's. A GVISOR sandbox
// that answers with the host kernel proves nothing in this suite.
func (w *world) checkRuntime(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := w.a.Execute(ctx, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "uname -r", Timeout: 10 * time.Second}, nil)
	if err != nil {
		return fmt.Errorf("uname in %s: %w", id, err)
	}
	rel := strings.TrimSpace(res.Stdout)
	switch {
	case w.rt == agentapi.RuntimeGVisor && rel == env.hostRelease:
		return fmt.Errorf("sandbox %s asked for runtime GVISOR runs on the host kernel (uname -r %q): StartRequest.Runtime is not honoured, runsc is not used", id, rel)
	case w.rt == agentapi.RuntimeRunc && rel != env.hostRelease:
		return fmt.Errorf("sandbox %s asked for runtime RUNC answers uname -r %q, the host runs %q", id, rel, env.hostRelease)
	}
	return nil
}

// fresh starts a sandbox for a destructive case, stopped when the test ends.
func (w *world) fresh(t *testing.T, name string, req agentapi.StartRequest) string {
	t.Helper()
	id := w.start(t, name, req)
	t.Cleanup(func() { w.stop(t, id) })
	return id
}

func (w *world) stop(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.a.StopSandbox(ctx, id); err != nil {
		t.Errorf("StopSandbox(%s): %v", id, err)
	}
}

// victimID returns the shared victim, replacing it when a previous case
// left it dead.
func (w *world) victimID(t *testing.T) string {
	t.Helper()
	if w.victim != "" {
		err := w.answers(w.victim)
		if err == nil {
			return w.victim
		}
		t.Logf("the shared victim %s no longer answers (%v): starting a new one", w.victim, err)
		w.stop(t, w.victim)
		w.victim = ""
	}
	w.victim = w.start(t, "victim", agentapi.StartRequest{})
	return w.victim
}

// answers runs a trivial execution in sandbox id.
func (w *world) answers(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := "alive-" + token()
	res, err := w.a.Execute(ctx, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "echo " + want, Timeout: 10 * time.Second}, nil)
	switch {
	case err != nil:
		return err
	case strings.TrimSpace(res.Stdout) != want || res.ExitCode != 0:
		return fmt.Errorf("echo returned stdout %q stderr %q exit %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	return nil
}

// assertAnswers is check (d): the attacked sandbox survived and answers.
// It allows a few seconds for a killed execution's processes to go.
func (w *world) assertAnswers(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		if err = w.answers(id); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		reason, exited := w.exits.reason(id)
		t.Errorf("the attacked sandbox %s no longer answers: %v (ended on its own: %v %s)", id, err, exited, reason)
	}
}

// run executes code with a wall-clock timeout and fails the test on an API
// error.
func run(t *testing.T, a agentapi.Agent, id string, lang agentapi.Language, code string, timeout time.Duration) agentapi.ExecResult {
	t.Helper()
	return runReq(t, a, id, agentapi.ExecRequest{Language: lang, Code: code, Timeout: timeout})
}

// runReq is run with every field of the request.
func runReq(t *testing.T, a agentapi.Agent, id string, req agentapi.ExecRequest) agentapi.ExecResult {
	t.Helper()
	res, _ := runStreamed(t, a, id, req)
	return res
}

// runStreamed is runReq that also returns how many output bytes reached
// the caller's onOutput while the execution streamed.
func runStreamed(t *testing.T, a agentapi.Agent, id string, req agentapi.ExecRequest) (agentapi.ExecResult, int) {
	t.Helper()
	if req.Timeout <= 0 || req.Timeout > 20*time.Second {
		t.Fatalf("test bug: every execution needs a wall timeout of at most 20s, got %v", req.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), req.Timeout+15*time.Second)
	defer cancel()
	var mu sync.Mutex
	streamed := 0
	res, err := a.Execute(ctx, id, req, func(c agentapi.OutputChunk) {
		mu.Lock()
		streamed += len(c.Data)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("Execute in %s: %v", id, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return res, streamed
}

// errName is the ExecError.Name of res, or "".
func errName(res agentapi.ExecResult) string {
	if res.Error == nil {
		return ""
	}
	return res.Error.Name
}

// describe shortens a result for a failure message.
func describe(res agentapi.ExecResult) string {
	return fmt.Sprintf("exit %d, error %+v, timed out %v, truncated %v, took %v\nstdout: %s\nstderr: %s",
		res.ExitCode, res.Error, res.TimedOut, res.Truncated, res.Duration.Round(time.Millisecond), clip(res.Stdout), clip(res.Stderr))
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:1500] + "\n…\n" + s[len(s)-1500:]
	}
	return s
}
