package server

import (
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// ctxSession is newSessionWith with cfg (nil: newSession's config) that
// also removes every context when the test ends (their interpreters
// would outlive it).
func ctxSession(tb testing.TB, cfg *Config) *yamux.Session {
	tb.Helper()
	if cfg == nil {
		cfg = &Config{RunDir: tb.TempDir(), WorkDir: tb.TempDir(), Env: []string{"PATH=/usr/bin:/bin", "BASE=1"}}
	}
	client := newSessionWith(tb, *cfg)
	tb.Cleanup(func() { // before the session's own cleanup (LIFO)
		if rep, _ := ctxOp(tb, client, &envdproto.ContextRequest{Op: envdproto.ContextList}); rep != nil {
			for _, c := range rep.Contexts {
				ctxOp(tb, client, &envdproto.ContextRequest{Op: envdproto.ContextRemove, ID: c.ID})
			}
		}
	})
	return client
}

// ctxOp sends one ContextRequest.
func ctxOp(t testing.TB, sess *yamux.Session, req *envdproto.ContextRequest) (*envdproto.ContextReply, *envdproto.Error) {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := envdproto.WriteJSON(st, envdproto.FrameContextRequest, req); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := envdproto.ReadFrame(st)
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	switch typ {
	case envdproto.FrameContextReply:
		var rep envdproto.ContextReply
		if err := envdproto.DecodeJSON(typ, payload, &rep); err != nil {
			t.Fatal(err)
		}
		return &rep, nil
	case envdproto.FrameError:
		var e envdproto.Error
		if err := envdproto.DecodeJSON(typ, payload, &e); err != nil {
			t.Fatal(err)
		}
		return nil, &e
	}
	t.Fatalf("%s: unexpected %s frame", req.Op, typ)
	return nil, nil
}

// newContext creates a context and returns its ID.
func newContext(t testing.TB, sess *yamux.Session, lang, cwd string) string {
	t.Helper()
	rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: lang, Cwd: cwd})
	if e != nil || len(rep.Contexts) != 1 || rep.Contexts[0].Language != lang || rep.Contexts[0].ID == "" {
		t.Fatalf("create %s: %+v %+v", lang, rep, e)
	}
	return rep.Contexts[0].ID
}

// cellFrame is one Output or Display frame of a cell.
type cellFrame struct {
	kind string // "stdout", "stderr" or the display's MIME type
	data string
	at   time.Time
}

// cellReply is a context execution's answer.
type cellReply struct {
	frames []cellFrame
	result *envdproto.Result
	err    *envdproto.Error
}

// stdout joins the stdout frames.
func (r cellReply) stdout() string { return r.joined("stdout") }

func (r cellReply) joined(kind string) string {
	var b strings.Builder
	for _, f := range r.frames {
		if f.kind == kind {
			b.WriteString(f.data)
		}
	}
	return b.String()
}

// displays returns the display frames as "type: data".
func (r cellReply) displays() []string {
	var out []string
	for _, f := range r.frames {
		if f.kind != "stdout" && f.kind != "stderr" {
			out = append(out, f.kind+": "+f.data)
		}
	}
	return out
}

// runIn runs req (ContextID and Language set by the caller) and collects
// the answer.
func runIn(t testing.TB, sess *yamux.Session, req *envdproto.ExecRequest) cellReply {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := envdproto.WriteJSON(st, envdproto.FrameExecRequest, req); err != nil {
		t.Fatal(err)
	}
	var rep cellReply
	for {
		typ, payload, err := envdproto.ReadFrame(st)
		if err != nil {
			return rep
		}
		now := time.Now()
		switch typ {
		case envdproto.FrameOutput:
			s, data, _ := envdproto.DecodeOutput(payload)
			rep.frames = append(rep.frames, cellFrame{strings.ToLower(s.String()), string(data), now})
		case envdproto.FrameDisplay:
			var d envdproto.DisplayData
			if err := envdproto.DecodeJSON(typ, payload, &d); err != nil {
				t.Fatal(err)
			}
			rep.frames = append(rep.frames, cellFrame{d.Type, d.Data, now})
		case envdproto.FrameResult:
			rep.result = &envdproto.Result{}
			if err := envdproto.DecodeJSON(typ, payload, rep.result); err != nil {
				t.Fatal(err)
			}
		case envdproto.FrameError:
			rep.err = &envdproto.Error{}
			if err := envdproto.DecodeJSON(typ, payload, rep.err); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected %s frame", typ)
		}
	}
}

// cellOK runs code in context id, which must succeed, and returns the
// reply.
func cellOK(t testing.TB, sess *yamux.Session, id, lang, code string) cellReply {
	t.Helper()
	rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: lang, Code: code})
	if rep.result == nil || rep.result.Error != nil || rep.result.ExitCode != 0 {
		t.Fatalf("cell %q: %+v %+v %+v", code, rep.err, rep.result, rep.frames)
	}
	return rep
}

// pyEval runs a Python expression and returns its text/plain value.
func pyEval(t *testing.T, sess *yamux.Session, id, expr string) string {
	t.Helper()
	d := cellOK(t, sess, id, envdproto.LangPython, expr).displays()
	if len(d) != 1 || !strings.HasPrefix(d[0], "text/plain: ") {
		t.Fatalf("%q: displays %q", expr, d)
	}
	return strings.TrimPrefix(d[0], "text/plain: ")
}

// pidGone waits until pid no longer runs (a zombie counts as gone).
func pidGone(pid int, within time.Duration) bool {
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil || strings.Contains(string(data), "State:\tZ") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func TestContextPythonState(t *testing.T) {
	sess := ctxSession(t, nil)
	id := newContext(t, sess, envdproto.LangPython, "")
	const py = envdproto.LangPython
	if rep := cellOK(t, sess, id, py, "x = 1\nimport json"); len(rep.frames) != 0 {
		t.Fatalf("an assignment shows nothing: %+v", rep.frames)
	}
	cellOK(t, sess, id, py, "x += 1")
	rep := cellOK(t, sess, id, py, "print(json.dumps(x))\nx * 10")
	if rep.stdout() != "2\n" || !slices.Equal(rep.displays(), []string{"text/plain: 20"}) {
		t.Fatalf("third cell: %q %q", rep.stdout(), rep.displays())
	}
	if got := pyEval(t, sess, id, "1+1"); got != "2" {
		t.Fatalf("1+1: %q", got)
	}
	if rep := cellOK(t, sess, id, py, "None"); len(rep.frames) != 0 {
		t.Fatalf("None shows nothing: %+v", rep.frames)
	}
	// The working directory is the context's: a chdir lasts.
	cellOK(t, sess, id, py, "import os\nos.mkdir('sub')\nos.chdir('sub')")
	if got := pyEval(t, sess, id, "os.path.basename(os.getcwd())"); got != "'sub'" {
		t.Fatalf("cwd: %s", got)
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py,
		Code: "print(input() + input(), os.environ['CELL_VAR'], os.environ.get('BASE'))", Stdin: "a\nb\n", Env: map[string]string{"CELL_VAR": "v"}})
	if rep.result == nil || rep.result.Error != nil || rep.stdout() != "ab v 1\n" {
		t.Fatalf("stdin and env: %+v %q", rep.result, rep.stdout())
	}
	if got := pyEval(t, sess, id, "os.environ.get('CELL_VAR', 'unset')"); got != "'unset'" {
		t.Fatalf("a cell's env outlived it: %s", got)
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "print('x' * 5000)", MaxOutputBytes: 100})
	if rep.result == nil || !rep.result.Truncated || len(rep.stdout()) != 100 {
		t.Fatalf("output cap: %d bytes, %+v", len(rep.stdout()), rep.result)
	}
	rep = cellOK(t, sess, id, py, "sum(i * i for i in range(3_000_000))")
	if rep.result.CPUTimeNS <= 0 || rep.result.PeakMemoryBytes <= 0 || rep.result.DurationNS <= 0 {
		t.Fatalf("usage: %+v", rep.result)
	}
}

func TestContextPythonDisplay(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	rep := cellOK(t, sess, id, py, "class T:\n  def _repr_html_(self): return '<table></table>'\n  def __repr__(self): return 'T()'\nT()")
	if !slices.Equal(rep.displays(), []string{"text/plain: T()", "text/html: <table></table>"}) {
		t.Fatalf("html: %q", rep.displays())
	}
	// display() streams: its frame comes before the output printed after
	// it, and well before the end of the cell.
	// (print writes "b" and "\n" apart: they may come in two frames.)
	rep = cellOK(t, sess, id, py, "import time\ndisplay('a')\ntime.sleep(0.3)\nprint('b')")
	if len(rep.frames) < 2 || rep.frames[0].kind != "text/plain" || rep.frames[0].data != "'a'" ||
		rep.frames[1].kind != "stdout" || rep.stdout() != "b\n" || rep.frames[1].at.Sub(rep.frames[0].at) < 200*time.Millisecond {
		t.Fatalf("display: %+v", rep.frames)
	}
	rep = cellOK(t, sess, id, py, "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nprint('drawn')")
	last := rep.frames[len(rep.frames)-1]
	if rep.stdout() != "drawn\n" || len(rep.displays()) != 1 || last.kind != "image/png" {
		t.Fatalf("figure: %.200v", rep.frames)
	}
	png, err := base64.StdEncoding.DecodeString(last.data)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG\r\n\x1a\n") {
		t.Fatalf("not a PNG: %v %.16q", err, png)
	}
	if rep.joined("stderr") != "" {
		t.Fatalf("matplotlib warned: %q", rep.joined("stderr"))
	}
}

func TestContextPythonErrors(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "print('before')\n1/0\nprint('after')"})
	r := rep.result
	if r == nil || r.ExitCode != 1 || r.Error == nil || r.Error.Name != "ZeroDivisionError" || r.Error.Value != "division by zero" ||
		!strings.Contains(r.Error.Traceback, `File "<cell-1>", line 2`) || !strings.Contains(r.Error.Traceback, "1/0") ||
		rep.stdout() != "before\n" || r.ContextRestarted {
		t.Fatalf("error: %+v %+v %q", r, r.Error, rep.stdout())
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "import sys\nkept = 1\nsys.exit(2)"})
	if rep.result == nil || rep.result.Error == nil || rep.result.Error.Name != "SystemExit" || rep.result.ContextRestarted {
		t.Fatalf("sys.exit: %+v", rep.result)
	}
	if got := pyEval(t, sess, id, "kept"); got != "1" {
		t.Fatalf("after SystemExit: %s", got)
	}
}

func TestContextJavaScript(t *testing.T) {
	sess := ctxSession(t, nil)
	const js = envdproto.LangJavaScript
	id := newContext(t, sess, js, "")
	cellOK(t, sess, id, js, "let n = 1; const k = 10; var v = 100")
	cellOK(t, sess, id, js, "n += k + v")
	rep := cellOK(t, sess, id, js, "console.log(n); n * 2")
	if rep.stdout() != "111\n" || !slices.Equal(rep.displays(), []string{"text/plain: 222"}) {
		t.Fatalf("state: %q %q", rep.stdout(), rep.displays())
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: js, Code: "throw new RangeError('too far')"})
	if r := rep.result; r == nil || r.ExitCode != 1 || r.Error == nil || r.Error.Name != "RangeError" || r.Error.Value != "too far" ||
		!strings.Contains(r.Error.Traceback, "<cell-4>:1") {
		t.Fatalf("error: %+v %+v", rep.result, rep.err)
	}
	// An interrupt from another stream ends a busy loop; the state stays.
	ch := make(chan cellReply, 1)
	go func() { ch <- runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: js, Code: "for (;;) {}"}) }()
	rep = interruptWhenBusy(t, sess, id, ch)
	if rep.result == nil || rep.result.Error == nil || rep.result.Error.Name != envdproto.ErrNameInterrupted || rep.result.ExitCode != 1 {
		t.Fatalf("interrupt: %+v", rep.result)
	}
	if rep := cellOK(t, sess, id, js, "n"); !slices.Equal(rep.displays(), []string{"text/plain: 111"}) {
		t.Fatalf("after the interrupt: %q", rep.displays())
	}
}

func TestContextTypeScript(t *testing.T) {
	sess := ctxSession(t, nil)
	const ts = envdproto.LangTypeScript
	id := newContext(t, sess, ts, "")
	cellOK(t, sess, id, ts, "type Pt = { x: number }\nlet p: Pt = { x: 20 }")
	cellOK(t, sess, id, ts, "p.x += 1")
	if rep := cellOK(t, sess, id, ts, "const twice = (n: number): number => n * 2\ntwice(p.x)"); !slices.Equal(rep.displays(), []string{"text/plain: 42"}) {
		t.Fatalf("typescript: %q", rep.displays())
	}
}

// waitBusy waits until context id is busy (list says so).
func waitBusy(t *testing.T, sess *yamux.Session, id string) {
	t.Helper()
	for i := 0; ; i++ {
		rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextList})
		if e != nil {
			t.Fatal(e)
		}
		if slices.ContainsFunc(rep.Contexts, func(c envdproto.ContextInfo) bool { return c.ID == id && c.Busy }) {
			return
		}
		if i == 500 {
			t.Fatal("the context never got busy")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interruptWhenBusy waits until context id is busy, interrupts it and
// returns the cell's reply from ch.
func interruptWhenBusy(t *testing.T, sess *yamux.Session, id string, ch <-chan cellReply) cellReply {
	t.Helper()
	waitBusy(t, sess, id)
	time.Sleep(200 * time.Millisecond) // into the loop or sleep
	if rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextInterrupt, ID: id}); e != nil || len(rep.Contexts) != 1 {
		t.Fatalf("interrupt: %+v %+v", rep, e)
	}
	select {
	case rep := <-ch:
		return rep
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupt did not end the cell")
		return cellReply{}
	}
}

func TestContextInterrupt(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	cellOK(t, sess, id, py, "kept = 'yes'")
	for _, code := range []string{"while True: pass", "import time\ntime.sleep(100)"} {
		ch := make(chan cellReply, 1)
		go func() { ch <- runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: code}) }()
		rep := interruptWhenBusy(t, sess, id, ch)
		if r := rep.result; r == nil || r.Error == nil || r.Error.Name != envdproto.ErrNameInterrupted || r.ExitCode != 1 || r.TimedOut || r.ContextRestarted {
			t.Fatalf("%q: %+v", code, rep.result)
		}
		if got := pyEval(t, sess, id, "kept"); got != "'yes'" {
			t.Fatalf("after interrupting %q: %s", code, got)
		}
	}
	// Idle: a no-op that succeeds.
	if rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextInterrupt, ID: id}); e != nil || rep.Contexts[0].Busy {
		t.Fatalf("idle interrupt: %+v %+v", rep, e)
	}
	if got := pyEval(t, sess, id, "kept"); got != "'yes'" {
		t.Fatalf("after an idle interrupt: %s", got)
	}
}

func TestContextBusyAndCancel(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	cellOK(t, sess, id, py, "import time\nkept = 5")
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if err := envdproto.WriteJSON(st, envdproto.FrameExecRequest, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "time.sleep(100)"}); err != nil {
		t.Fatal(err)
	}
	waitBusy(t, sess, id)
	if rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "1"}); rep.err == nil ||
		rep.err.Code != envdproto.CodeFailedPrecondition || !strings.Contains(rep.err.Message, "busy") {
		t.Fatalf("second cell while busy: %+v %+v", rep.err, rep.result)
	}
	// Cancel: the agent closes the stream. The cell is interrupted, envd
	// sends nothing more, and the state stays.
	st.Close()
	for i := 0; ; i++ {
		rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "kept"})
		if rep.err == nil {
			if !slices.Equal(rep.displays(), []string{"text/plain: 5"}) {
				t.Fatalf("after cancel: %+v %q", rep.result, rep.displays())
			}
			break
		}
		if i == 100 {
			t.Fatalf("still busy 2 s after cancel: %+v", rep.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestContextTimeout(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	cellOK(t, sess, id, py, "import os, signal, time\nkept = 1")
	pid := pyEval(t, sess, id, "os.getpid()")
	// Interrupted at the timeout: the state is kept.
	rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "time.sleep(100)", TimeoutMS: 300})
	if r := rep.result; r == nil || !r.TimedOut || r.Error == nil || r.Error.Name != envdproto.ErrNameTimeout ||
		!strings.Contains(r.Error.Value, "state was kept") || r.ContextRestarted {
		t.Fatalf("kept: %+v %+v", rep.result, rep.err)
	}
	if got := pyEval(t, sess, id, "kept"); got != "1" {
		t.Fatalf("state after the timeout: %s", got)
	}
	// A cell that ignores the interrupt: killed 2 s later and restarted.
	begin := time.Now()
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py,
		Code: "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(100)", TimeoutMS: 300})
	if r := rep.result; r == nil || !r.TimedOut || r.Error == nil || r.Error.Name != envdproto.ErrNameTimeout ||
		!strings.Contains(r.Error.Value, "state is gone") || !r.ContextRestarted || time.Since(begin) > 6*time.Second {
		t.Fatalf("restarted: %+v %+v after %v", rep.result, rep.err, time.Since(begin))
	}
	if p, _ := strconv.Atoi(pid); !pidGone(p, 2*time.Second) {
		t.Fatalf("the old interpreter %s still runs", pid)
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "kept"})
	if r := rep.result; r == nil || r.Error == nil || r.Error.Name != "NameError" {
		t.Fatalf("state after the restart: %+v", rep.result)
	}
}

func TestContextDied(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	cellOK(t, sess, id, py, "import os\nkept = 1")
	rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "print('bye', flush=True)\nos._exit(3)"})
	if r := rep.result; r == nil || r.Error == nil || r.Error.Name != envdproto.ErrNameContextDied || !r.ContextRestarted ||
		!strings.Contains(r.Error.Value, "exited with status 3") || r.ExitCode != 3 || rep.stdout() != "bye\n" {
		t.Fatalf("os._exit: %+v %+v %q", rep.result, rep.err, rep.stdout())
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "kept"})
	if r := rep.result; r == nil || r.Error == nil || r.Error.Name != "NameError" || r.ContextRestarted {
		t.Fatalf("fresh state: %+v", rep.result)
	}
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "import ctypes\nctypes.string_at(0)"})
	if r := rep.result; r == nil || r.Error == nil || r.Error.Name != envdproto.ErrNameContextDied || !r.ContextRestarted ||
		!strings.Contains(r.Error.Value, "killed by signal 11 (segmentation fault)") || r.ExitCode != 128+11 {
		t.Fatalf("segfault: %+v %+v", rep.result, rep.err)
	}
	cellOK(t, sess, id, py, "import os\nkept = 2")
	// Killed while idle: the next cell runs in a fresh interpreter and
	// says so.
	pid, _ := strconv.Atoi(pyEval(t, sess, id, "os.getpid()"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !pidGone(pid, 2*time.Second) {
		t.Fatal("SIGKILL did not end the interpreter")
	}
	time.Sleep(100 * time.Millisecond)
	rep = runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "print('fresh')\n'kept' in globals()"})
	if r := rep.result; r == nil || r.Error != nil || !r.ContextRestarted || rep.stdout() != "fresh\n" ||
		!slices.Equal(rep.displays(), []string{"text/plain: False"}) {
		t.Fatalf("after an idle death: %+v %+v %v", rep.result, rep.err, rep.frames)
	}
}

func TestContextRestartAndRemove(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	// What a context holds is released when it is removed: count before.
	fds, goroutines := ctxOpenFds(t), runtime.NumGoroutine()
	id := newContext(t, sess, py, "")
	cellOK(t, sess, id, py, "import os\nkept = 1")
	pid1, _ := strconv.Atoi(pyEval(t, sess, id, "os.getpid()"))
	if rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextRestart, ID: id}); e != nil || rep.Contexts[0].ID != id {
		t.Fatalf("restart: %+v %+v", rep, e)
	}
	if !pidGone(pid1, 2*time.Second) {
		t.Fatal("restart left the old interpreter running")
	}
	rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "kept"})
	if rep.result == nil || rep.result.Error == nil || rep.result.Error.Name != "NameError" {
		t.Fatalf("state after restart: %+v", rep.result)
	}
	pid2, _ := strconv.Atoi(pyEval(t, sess, id, "import os\nos.getpid()"))
	if pid2 == pid1 {
		t.Fatal("restart kept the interpreter")
	}
	if rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextRemove, ID: id}); e != nil || len(rep.Contexts) != 0 {
		t.Fatalf("remove: %+v %+v", rep, e)
	}
	if !pidGone(pid2, 2*time.Second) {
		t.Fatalf("remove left the interpreter %d running", pid2)
	}
	if rep, _ := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextList}); len(rep.Contexts) != 0 {
		t.Fatalf("list after remove: %+v", rep.Contexts)
	}
	if rep := runIn(t, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "1"}); rep.err == nil || rep.err.Code != envdproto.CodeNotFound {
		t.Fatalf("exec after remove: %+v", rep.err)
	}
	for i := 0; ctxOpenFds(t) != fds || runtime.NumGoroutine() > goroutines; i++ {
		if i == 100 {
			t.Fatalf("leak: %d fds (was %d), %d goroutines (was %d)", ctxOpenFds(t), fds, runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestContextDescribeEnd checks the words of CONTEXT_DIED, envd's OOM
// killer included (which needs gVisor's view of memory to strike).
func TestContextDescribeEnd(t *testing.T) {
	s := &Server{cfg: Config{MemoryLimit: 512 << 20}}
	ended := func(ws syscall.WaitStatus, oom bool) *interp {
		it := &interp{exited: make(chan struct{}), status: reaper.Status{Wait: ws}, oom: oom}
		close(it.exited)
		return it
	}
	for _, tc := range []struct {
		it   *interp
		want string
	}{
		{ended(syscall.WaitStatus(3<<8), false), "the interpreter exited with status 3"},
		{ended(syscall.WaitStatus(syscall.SIGSEGV), false), "the interpreter was killed by signal 11 (segmentation fault)"},
		{ended(syscall.WaitStatus(syscall.SIGKILL), true), "the interpreter ran out of memory: the sandbox's 512 MiB limit was reached and it was killed"},
		{&interp{exited: make(chan struct{})}, "the interpreter stopped answering and was killed"},
	} {
		if got := s.describeEnd(tc.it); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// ctxOpenFds counts the test process's open file descriptors.
func ctxOpenFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestContextBadRequests(t *testing.T) {
	sess := ctxSession(t, nil)
	const py = envdproto.LangPython
	id := newContext(t, sess, py, "")
	for _, tc := range []struct {
		req  *envdproto.ContextRequest
		code string
	}{
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: envdproto.LangBash}, envdproto.CodeInvalidArgument},
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: "COBOL"}, envdproto.CodeInvalidArgument},
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: py, Cwd: "relative"}, envdproto.CodeInvalidArgument},
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: py, Cwd: "/nonexistent"}, envdproto.CodeInvalidArgument},
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: py, Env: map[string]string{"A=B": "1"}}, envdproto.CodeInvalidArgument},
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: py, ID: "bad/id"}, envdproto.CodeInvalidArgument},
		{&envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: py, ID: id}, envdproto.CodeAlreadyExists},
		{&envdproto.ContextRequest{Op: envdproto.ContextRestart, ID: "ctx_none"}, envdproto.CodeNotFound},
		{&envdproto.ContextRequest{Op: envdproto.ContextRemove, ID: "ctx_none"}, envdproto.CodeNotFound},
		{&envdproto.ContextRequest{Op: envdproto.ContextInterrupt, ID: "ctx_none"}, envdproto.CodeNotFound},
		{&envdproto.ContextRequest{Op: "explode", ID: id}, envdproto.CodeInvalidArgument},
	} {
		if rep, e := ctxOp(t, sess, tc.req); e == nil || e.Code != tc.code {
			t.Errorf("%+v: %+v %+v, want %s", tc.req, rep, e, tc.code)
		}
	}
	for _, tc := range []struct {
		req  *envdproto.ExecRequest
		code string
	}{
		{&envdproto.ExecRequest{ContextID: "ctx_none", Language: py, Code: "1"}, envdproto.CodeNotFound},
		{&envdproto.ExecRequest{ContextID: id, Language: envdproto.LangJavaScript, Code: "1"}, envdproto.CodeInvalidArgument},
		{&envdproto.ExecRequest{ContextID: id, Language: py, Code: "1", Cwd: "/tmp"}, envdproto.CodeInvalidArgument},
		{&envdproto.ExecRequest{ContextID: id, Language: py, Code: "1", Args: []string{"a"}}, envdproto.CodeInvalidArgument},
		{&envdproto.ExecRequest{ContextID: id, Language: py, Code: "1", Env: map[string]string{"": "x"}}, envdproto.CodeInvalidArgument},
	} {
		if rep := runIn(t, sess, tc.req); rep.err == nil || rep.err.Code != tc.code {
			t.Errorf("%+v: %+v %+v, want %s", tc.req, rep.result, rep.err, tc.code)
		}
	}
	// A caller's own ID, and a named cwd, are kept.
	dir := t.TempDir()
	rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextCreate, Language: py, ID: "ctx_Mine-1", Cwd: dir})
	if e != nil || rep.Contexts[0].ID != "ctx_Mine-1" || rep.Contexts[0].Cwd != dir {
		t.Fatalf("own id: %+v %+v", rep, e)
	}
	if got := pyEval(t, sess, "ctx_Mine-1", "__import__('os').getcwd()"); got != fmt.Sprintf("%q", dir) && got != "'"+dir+"'" {
		t.Fatalf("cwd %s, want %s", got, dir)
	}
	if rep, _ := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextList}); len(rep.Contexts) != 2 ||
		rep.Contexts[0].ID != id || rep.Contexts[1].ID != "ctx_Mine-1" {
		t.Fatalf("list: %+v", rep)
	}
}

// TestContextRunAs runs a context as an unprivileged uid: the interpreter
// has the user's uid and the context's execution gid, its pipes are not
// inherited by what it starts, and remove kills what it left behind.
func TestContextRunAs(t *testing.T) {
	cfg := runAsConfig(t)
	sess := ctxSession(t, &cfg)
	const py, js = envdproto.LangPython, envdproto.LangJavaScript
	id := newContext(t, sess, py, "")
	ids := strings.Fields(cellOK(t, sess, id, py, "import os, subprocess\nprint(os.getuid(), os.getgid(), *sorted(os.getgroups()))").stdout())
	if len(ids) != 4 || ids[0] != "65534" || ids[1] != "65534" {
		t.Fatalf("ids: %q", ids)
	}
	if gid, _ := strconv.Atoi(ids[2]); gid < execGroupFirst || gid >= execGroupFirst+execGroupCount || ids[3] != "65534" {
		t.Fatalf("groups %q: want the execution group and 65534", ids[2:])
	}
	// What the cells start does not inherit the driver's fds 3, 4, 5.
	driverFds := func(out string) bool {
		return slices.ContainsFunc(strings.Fields(out), func(fd string) bool { return fd == "3" || fd == "4" || fd == "5" })
	}
	if out := cellOK(t, sess, id, py, "os.system('ls /proc/$$/fd')").stdout(); driverFds(out) || !strings.HasPrefix(out, "0\n1\n") {
		t.Fatalf("python's child has fds %q", out)
	}
	jsID := newContext(t, sess, js, "")
	if out := cellOK(t, sess, jsID, js, "process.stdout.write(require('child_process').execSync('ls /proc/$$/fd', {stdio: ['ignore', 'pipe', 'inherit']}))").stdout(); driverFds(out) || !strings.HasPrefix(out, "0\n1\n") {
		t.Fatalf("node's child has fds %q", out)
	}
	out := cellOK(t, sess, id, py, "p = subprocess.Popen(['setsid', 'sleep', '1000'])\nprint(os.getpid(), p.pid)").stdout()
	var pid, escapee int
	if _, err := fmt.Sscan(out, &pid, &escapee); err != nil {
		t.Fatalf("pids %q: %v", out, err)
	}
	if rep, e := ctxOp(t, sess, &envdproto.ContextRequest{Op: envdproto.ContextRemove, ID: id}); e != nil {
		t.Fatalf("remove: %+v %+v", rep, e)
	}
	if !pidGone(pid, 2*time.Second) || !pidGone(escapee, 2*time.Second) {
		t.Fatalf("remove left the interpreter %d or its setsid'd child %d running", pid, escapee)
	}
}

// BenchmarkContextPrint measures a print(1) cell's round trip through the
// in-memory yamux session: request, Output frame, Result.
func BenchmarkContextPrint(b *testing.B) {
	sess := ctxSession(b, nil)
	const py = envdproto.LangPython
	id := newContext(b, sess, py, "")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		begin := time.Now()
		rep := runIn(b, sess, &envdproto.ExecRequest{ContextID: id, Language: py, Code: "print(1)"})
		lat = append(lat, time.Since(begin))
		if rep.result == nil || rep.stdout() != "1\n" {
			b.Fatalf("print(1): %+v %+v", rep.result, rep.err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// TestContextBackToBack sends each cell as soon as the previous Result
// arrives, without waiting for its stream to close, as the agent does:
// the context must be free by then.
func TestContextBackToBack(t *testing.T) {
	sess := ctxSession(t, nil)
	id := newContext(t, sess, envdproto.LangPython, "")
	for i := range 30 {
		st, err := sess.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		req := &envdproto.ExecRequest{ContextID: id, Language: envdproto.LangPython, Code: "print(1)"}
		if err := envdproto.WriteJSON(st, envdproto.FrameExecRequest, req); err != nil {
			t.Fatal(err)
		}
		for {
			typ, payload, err := envdproto.ReadFrame(st)
			if err != nil {
				t.Fatalf("cell %d: %v", i, err)
			}
			if typ == envdproto.FrameError {
				t.Fatalf("cell %d: %s", i, payload)
			}
			if typ == envdproto.FrameResult {
				break
			}
		}
		st.Close()
	}
}
