package kernel

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/codeint/codeint/nodeagent/toolchain"
	"go.uber.org/goleak"
)

// proc is an interpreter a test started.
type proc struct {
	p      *os.Process
	exited chan struct{}
	state  *os.ProcessState
}

// startKernel starts lang's interpreter in dir (os/exec style: the test
// process waits for it) and closes and kills it at the end of the test.
func startKernel(t *testing.T, lang, dir string) (*Kernel, *proc) {
	t.Helper()
	tools, err := toolchain.Find(lang)
	if err != nil {
		t.Fatalf("%s is not installed here (the tests need python3, node and typescript): %v", lang, err)
	}
	pr := &proc{exited: make(chan struct{})}
	k, err := Start(Config{Language: lang, Tools: tools, Start: func(argv []string, files []*os.File) (<-chan struct{}, error) {
		p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: dir, Files: files,
			Env: []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8"}, Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			return nil, err
		}
		pr.p = p
		go func() {
			pr.state, _ = p.Wait()
			close(pr.exited)
		}()
		return pr.exited, nil
	}})
	if err != nil {
		if pr.p != nil {
			pr.kill()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pr.kill()
		k.Close()
	})
	return k, pr
}

func (pr *proc) kill() {
	_ = syscall.Kill(-pr.p.Pid, syscall.SIGKILL)
	<-pr.exited
}

// item is one thing a cell produced.
type item struct {
	kind string // "stdout", "stderr" or a MIME type
	data string
}

// recorder is a Sink that keeps everything in order.
type recorder struct {
	mu    sync.Mutex
	items []item
	seen  chan struct{} // gets a value per item (buffered, never blocks)
}

func newRecorder() *recorder { return &recorder{seen: make(chan struct{}, 1000)} }

func (r *recorder) Output(s envdproto.Stream, data []byte) {
	kind := "stdout"
	if s == envdproto.StreamStderr {
		kind = "stderr"
	}
	r.add(item{kind, string(data)})
}

func (r *recorder) Display(d envdproto.DisplayData) { r.add(item{d.Type, d.Data}) }

func (r *recorder) add(it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Output chunks of one stream in a row are one item.
	if n := len(r.items); n > 0 && (it.kind == "stdout" || it.kind == "stderr") && r.items[n-1].kind == it.kind {
		r.items[n-1].data += it.data
	} else {
		r.items = append(r.items, it)
	}
	select {
	case r.seen <- struct{}{}:
	default:
	}
}

func (r *recorder) get() []item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]item(nil), r.items...)
}

// run runs code and fails the test unless the cell ends within 20 s.
func run(t *testing.T, k *Kernel, c Cell) (Outcome, []item) {
	t.Helper()
	r := newRecorder()
	type res struct {
		o   Outcome
		err error
	}
	ch := make(chan res, 1)
	go func() {
		o, err := k.Run(c, r)
		ch <- res{o, err}
	}()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatalf("run %q: %v", c.Code, got.err)
		}
		return got.o, r.get()
	case <-time.After(20 * time.Second):
		t.Fatalf("cell %q did not end", c.Code)
		return Outcome{}, nil
	}
}

// runOK runs code that must succeed.
func runOK(t *testing.T, k *Kernel, code string) []item {
	t.Helper()
	o, items := run(t, k, Cell{Code: code})
	if o.Died || o.Error != nil {
		t.Fatalf("cell %q: died %v, error %+v, items %q", code, o.Died, o.Error, items)
	}
	return items
}

func same(a, b []item) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestPythonCells(t *testing.T) {
	k, _ := startKernel(t, envdproto.LangPython, t.TempDir())
	runOK(t, k, "x = 40\nimport os")
	runOK(t, k, "x += 1")
	if got := runOK(t, k, "print(x)\nx + 1"); !same(got, []item{{"stdout", "41\n"}, {"text/plain", "42"}}) {
		t.Fatalf("third cell: %q", got)
	}
	if got := runOK(t, k, "_ * 2"); !same(got, []item{{"text/plain", "84"}}) {
		t.Fatalf("_ holds the last value: %q", got)
	}
	if got := runOK(t, k, "y = None\ny"); len(got) != 0 {
		t.Fatalf("None shows nothing: %q", got)
	}
	// Output before a display arrives before it, output after it after
	// it, without any pause between them. (stdout and stderr are two
	// pipes: between the two the order is not kept.)
	var wantOut, wantErr []item
	code := "import sys\n"
	for i := range 20 {
		code += fmt.Sprintf("print(%d)\ndisplay(%d)\nprint('e%d', file=sys.stderr)\n", i, i, i)
		wantOut = append(wantOut, item{"stdout", fmt.Sprintf("%d\n", i)}, item{"text/plain", fmt.Sprint(i)})
		wantErr = append(wantErr, item{"text/plain", fmt.Sprint(i)}, item{"stderr", fmt.Sprintf("e%d\n", i)})
	}
	got := runOK(t, k, code)
	if out, errs := only(got, "stderr"), only(got, "stdout"); !same(out, wantOut) || !same(errs, wantErr) {
		t.Fatalf("order:\n got %q\nwant %q and %q", got, wantOut, wantErr)
	}
}

// only returns items without those of kind drop, chunks of one stream in
// a row joined.
func only(items []item, drop string) []item {
	var out []item
	for _, it := range items {
		switch n := len(out); {
		case it.kind == drop:
		case n > 0 && it.kind == out[n-1].kind && (it.kind == "stdout" || it.kind == "stderr"):
			out[n-1].data += it.data
		default:
			out = append(out, it)
		}
	}
	return out
}

func TestPythonRichAndErrors(t *testing.T) {
	k, _ := startKernel(t, envdproto.LangPython, t.TempDir())
	got := runOK(t, k, "class H:\n  def _repr_html_(self): return '<b>h</b>'\n  def _repr_json_(self): return {'a': 1}\n  def __repr__(self): return 'H()'\nH()")
	if !same(got, []item{{"text/plain", "H()"}, {"text/html", "<b>h</b>"}, {"application/json", `{"a": 1}`}}) {
		t.Fatalf("rich repr: %q", got)
	}
	o, items := run(t, k, Cell{Code: "a = 1\n\n1/0"})
	if o.Error == nil || o.Error.Name != "ZeroDivisionError" || o.Error.Value != "division by zero" ||
		!strings.Contains(o.Error.Traceback, `File "<cell-2>", line 3`) || !strings.Contains(o.Error.Traceback, "1/0") ||
		strings.Contains(o.Error.Traceback, "<string>") || len(items) != 0 {
		t.Fatalf("error: %+v %q", o.Error, items)
	}
	o, _ = run(t, k, Cell{Code: "def f(:\n pass"})
	if o.Error == nil || o.Error.Name != "SyntaxError" || !strings.Contains(o.Error.Traceback, `File "<cell-3>", line 1`) ||
		strings.Contains(o.Error.Traceback, "ast.py") {
		t.Fatalf("syntax error: %+v", o.Error)
	}
	o, _ = run(t, k, Cell{Code: "import sys\nsys.exit(4)"})
	if o.Died || o.Error == nil || o.Error.Name != "SystemExit" || o.Error.Value != "4" {
		t.Fatalf("sys.exit: %+v %+v", o, o.Error)
	}
	o, items = run(t, k, Cell{Code: "import os\nprint(input(), os.environ['CELL'])", Stdin: "typed\n", Env: map[string]string{"CELL": "v"}})
	if o.Error != nil || !same(items, []item{{"stdout", "typed v\n"}}) {
		t.Fatalf("stdin and env: %+v %q", o.Error, items)
	}
	if got := runOK(t, k, "os.environ.get('CELL')"); len(got) != 0 {
		t.Fatalf("the cell's env outlived it: %q", got)
	}
	if got := runOK(t, k, "async def f(): return 5\nawait f()"); !same(got, []item{{"text/plain", "5"}}) {
		t.Fatalf("top-level await: %q", got)
	}
	// A child the cell forks ends with the cell: it neither answers envd
	// nor reads the next cell.
	if got := runOK(t, k, "pid = os.fork()\nif pid == 0: print('child')\nelse: os.waitpid(pid, 0)\n'parent' if pid else 'child'"); !same(got, []item{{"stdout", "child\n"}, {"text/plain", "'parent'"}}) {
		t.Fatalf("fork: %q", got)
	}
	for i := range 3 {
		if got := runOK(t, k, fmt.Sprintf("%d", i)); !same(got, []item{{"text/plain", fmt.Sprint(i)}}) {
			t.Fatalf("after a fork: %q", got)
		}
	}
	if got := runOK(t, k, "print(1)\n2 + 2;"); !same(got, []item{{"stdout", "1\n"}}) {
		t.Fatalf("a trailing ';' hides the value: %q", got)
	}
}

func TestPythonMatplotlib(t *testing.T) {
	k, _ := startKernel(t, envdproto.LangPython, t.TempDir())
	if got := runOK(t, k, "import sys\n'matplotlib' in sys.modules"); !same(got, []item{{"text/plain", "False"}}) {
		t.Fatalf("the driver imported matplotlib: %q", got)
	}
	got := runOK(t, k, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('before')\nplt.show()\nprint('after')\nplt.figure()\nplt.plot([3, 1])\nNone")
	if len(got) != 4 || got[0] != (item{"stdout", "before\n"}) || got[1].kind != "image/png" ||
		got[2] != (item{"stdout", "after\n"}) || got[3].kind != "image/png" {
		t.Fatalf("figures: %.80q", got)
	}
	for _, it := range []item{got[1], got[3]} {
		png, err := base64.StdEncoding.DecodeString(it.data)
		if err != nil || !strings.HasPrefix(string(png), "\x89PNG\r\n\x1a\n") {
			t.Fatalf("not a PNG: %v %.20q", err, png)
		}
	}
	if got := runOK(t, k, "len(plt.get_fignums())"); !same(got, []item{{"text/plain", "0"}}) {
		t.Fatalf("figures left open: %q", got)
	}
}

func TestPythonInterruptAndDeath(t *testing.T) {
	k, pr := startKernel(t, envdproto.LangPython, t.TempDir())
	runOK(t, k, "kept = 7")
	for _, code := range []string{"while True: pass", "import time\ntime.sleep(100)"} {
		interruptCell(t, k, pr.p.Pid, code)
	}
	if got := runOK(t, k, "kept"); !same(got, []item{{"text/plain", "7"}}) {
		t.Fatalf("state lost: %q", got)
	}
	// An interrupt asked for before the driver has begun the cell waits
	// for it to begin.
	for range 5 {
		done := make(chan Outcome, 1)
		go func() {
			o, _ := k.Run(Cell{Code: "import time\ntime.sleep(100)"}, newRecorder())
			done <- o
		}()
		for k.idle() {
			time.Sleep(50 * time.Microsecond)
		}
		k.Interrupt(func() { _ = syscall.Kill(-pr.p.Pid, syscall.SIGINT) })
		select {
		case o := <-done:
			if o.Error == nil || o.Error.Name != envdproto.ErrNameInterrupted {
				t.Fatalf("early interrupt: %+v", o.Error)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an interrupt asked for before the cell began was lost")
		}
	}
	// SIGINT while idle does nothing.
	if err := syscall.Kill(-pr.p.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := runOK(t, k, "kept"); !same(got, []item{{"text/plain", "7"}}) {
		t.Fatalf("after an idle SIGINT: %q", got)
	}
	o, items := run(t, k, Cell{Code: "import os\nprint('bye', flush=True)\nos._exit(3)"})
	if !o.Died || !same(items, []item{{"stdout", "bye\n"}}) {
		t.Fatalf("os._exit: %+v %q", o, items)
	}
	<-pr.exited
	if pr.state.ExitCode() != 3 || !k.Dead() {
		t.Fatalf("exit %v, dead %v", pr.state, k.Dead())
	}
	if o, err := k.Run(Cell{Code: "1"}, newRecorder()); err != nil || !o.Died {
		t.Fatalf("a dead kernel ran a cell: %+v %v", o, err)
	}
}

func TestBusy(t *testing.T) {
	k, pr := startKernel(t, envdproto.LangPython, t.TempDir())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = k.Run(Cell{Code: "import time\ntime.sleep(100)"}, newRecorder())
	}()
	for k.idle() {
		time.Sleep(time.Millisecond)
	}
	if _, err := k.Run(Cell{Code: "1"}, newRecorder()); !errors.Is(err, ErrBusy) {
		t.Fatalf("second cell: %v", err)
	}
	_ = syscall.Kill(-pr.p.Pid, syscall.SIGINT)
	<-done
}

// idle reports whether no cell runs.
func (k *Kernel) idle() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cell == nil
}

func TestJavaScriptCells(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/local.js", []byte("module.exports = 'local module'"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, pr := startKernel(t, envdproto.LangJavaScript, dir)
	runOK(t, k, "var a = 1; let b = 2; const c = 3; function f() { return a + b + c }")
	runOK(t, k, "a += 10; b += 20")
	if got := runOK(t, k, "console.log(f()); ({x: f()})"); !same(got, []item{{"stdout", "36\n"}, {"text/plain", "{ x: 36 }"}}) {
		t.Fatalf("state: %q", got)
	}
	if got := runOK(t, k, "let u = 5"); len(got) != 0 {
		t.Fatalf("a declaration shows nothing: %q", got)
	}
	if got := runOK(t, k, "require('./local.js') + ' ' + require('path').sep"); !same(got, []item{{"text/plain", "'local module /'"}}) {
		t.Fatalf("require: %q", got)
	}
	if got := runOK(t, k, "new Promise(r => setTimeout(() => r(9), 50))"); !same(got, []item{{"text/plain", "9"}}) {
		t.Fatalf("promise: %q", got)
	}
	if got := runOK(t, k, "console.log('a'); display('d'); console.log('b')"); !same(got, []item{{"stdout", "a\n"}, {"text/plain", "'d'"}, {"stdout", "b\n"}}) {
		t.Fatalf("display: %q", got)
	}
	o, _ := run(t, k, Cell{Code: "\nnull.x"})
	if o.Error == nil || o.Error.Name != "TypeError" || !strings.Contains(o.Error.Traceback, "<cell-8>:2") ||
		strings.Contains(o.Error.Traceback, "[eval]") || strings.Contains(o.Error.Traceback, "node:") {
		t.Fatalf("error: %+v", o.Error)
	}
	o, items := run(t, k, Cell{Code: "console.log(process.env.CELL)", Env: map[string]string{"CELL": "v"}})
	if o.Error != nil || !same(items, []item{{"stdout", "v\n"}}) {
		t.Fatalf("env: %+v %q", o.Error, items)
	}
	for _, code := range []string{"while (true) {}", "new Promise(() => {})"} {
		interruptCell(t, k, pr.p.Pid, code)
	}
	if got := runOK(t, k, "f()"); !same(got, []item{{"text/plain", "36"}}) {
		t.Fatalf("after interrupts: %q", got)
	}
}

func TestTypeScriptCells(t *testing.T) {
	k, _ := startKernel(t, envdproto.LangTypeScript, t.TempDir())
	runOK(t, k, "interface P { n: number }\nconst p: P = { n: 2 }\nlet total: number = 0")
	if got := runOK(t, k, "total += p.n * 21\ntotal"); !same(got, []item{{"text/plain", "42"}}) {
		t.Fatalf("state: %q", got)
	}
	o, _ := run(t, k, Cell{Code: "let = ;"})
	if o.Error == nil || o.Error.Name != "SyntaxError" {
		t.Fatalf("syntax error: %+v", o.Error)
	}
}

func TestStartFailure(t *testing.T) {
	if _, err := Command(envdproto.LangBash, []string{"/bin/bash"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("bash: %v", err)
	}
	// An interpreter that dies at once: Start says so, with its output.
	_, err := Start(Config{Language: envdproto.LangPython, Tools: []string{"/bin/sh"}, Start: func(argv []string, files []*os.File) (<-chan struct{}, error) {
		p, err := os.StartProcess("/bin/sh", []string{"/bin/sh", "-c", "echo broken >&2; exit 1"}, &os.ProcAttr{Files: files})
		if err != nil {
			return nil, err
		}
		exited := make(chan struct{})
		go func() {
			p.Wait()
			close(exited)
		}()
		return exited, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("start: %v", err)
	}
}

// TestMain fails the package's tests if a goroutine of a kernel (its
// loop, its watcher, a request writer) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// interruptCell runs code, sends SIGINT to the interpreter's group (pid)
// 300 ms in, and checks that the cell ends as interrupted.
func interruptCell(t *testing.T, k *Kernel, pid int, code string) {
	t.Helper()
	done := make(chan Outcome, 1)
	go func() {
		o, _ := k.Run(Cell{Code: code}, newRecorder())
		done <- o
	}()
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(-pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-done:
		if o.Error == nil || o.Error.Name != envdproto.ErrNameInterrupted {
			t.Fatalf("%q: %+v", code, o.Error)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%q: SIGINT did not end the cell", code)
	}
}
