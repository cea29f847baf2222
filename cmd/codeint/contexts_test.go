package main

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// TestContexts drives code-interpreter contexts in a real sandbox through
// GraphQL: state kept over cells, trailing expressions, a matplotlib
// figure, structured errors, interrupt, restart and remove, and the
// NOT_FOUND of contexts that are not the caller's.
func TestContexts(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "0")
	c := d.client()
	ctx := ctxT(t, 5*time.Minute)
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 600, MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, ctxID, lang, code string) *codeint.ExecutionResult {
		t.Helper()
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: lang, Code: code, ContextID: ctxID})
		if err != nil {
			t.Fatalf("%q: %v", code, err)
		}
		return res
	}
	plain := func(res *codeint.ExecutionResult) []string {
		var out []string
		for _, r := range res.Results {
			if r.Type == "text/plain" {
				out = append(out, r.Data)
			}
		}
		return out
	}

	py, err := c.CreateContext(ctx, sb.ID, codeint.Python, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(py.ID, "ctx_") || py.Language != codeint.Python || py.Cwd != "/tmp" || py.SandboxID != sb.ID {
		t.Fatalf("created %+v", py)
	}

	t.Run("python state over three cells", func(t *testing.T) {
		run(t, py.ID, codeint.Python, "import os, math\nx = 20")
		run(t, py.ID, codeint.Python, "x += 1\nos.chdir('/home/user')")
		res := run(t, py.ID, codeint.Python, "print(os.getcwd(), math.floor(2.5))\nx * 2")
		if res.Stdout != "/home/user 2\n" || res.Error != nil || !slices.Equal(plain(res), []string{"42"}) {
			t.Fatalf("third cell: %+v", res)
		}
		if res := run(t, py.ID, codeint.Python, "y = 1"); len(res.Results) != 0 {
			t.Fatalf("an assignment displayed %+v", res.Results)
		}
	})

	t.Run("matplotlib figure", func(t *testing.T) {
		res := run(t, py.ID, codeint.Python, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')")
		var png []byte
		for _, r := range res.Results {
			if r.Type == "image/png" {
				png, _ = base64.StdEncoding.DecodeString(r.Data)
			}
		}
		if !bytes.HasPrefix(png, pngSignature) || res.Error != nil {
			t.Fatalf("no PNG among %d results (error %+v, stderr %q)", len(res.Results), res.Error, res.Stderr)
		}
	})

	t.Run("rich and streamed display", func(t *testing.T) {
		var order []string
		res, err := c.StreamExecuteWith(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, ContextID: py.ID,
			Code: "class T:\n    def _repr_html_(self): return '<b>t</b>'\ndisplay(T())\nimport time; time.sleep(0.3)\nprint('after')"},
			codeint.StreamHandlers{
				OnOutput:  func(ch codeint.OutputChunk) { order = append(order, "out:"+ch.Data) },
				OnDisplay: func(dd codeint.DisplayData) { order = append(order, "display:"+dd.Type) },
			})
		if err != nil {
			t.Fatal(err)
		}
		if len(order) < 2 || !strings.HasPrefix(order[0], "display:") || !slices.Contains(order, "display:text/html") ||
			order[len(order)-1] != "out:after\n" || res.Stdout != "after\n" {
			t.Fatalf("events %q, result %+v", order, res)
		}
	})

	t.Run("structured error keeps the context", func(t *testing.T) {
		res := run(t, py.ID, codeint.Python, "def f():\n    return 1 / 0\nf()")
		if res.Error == nil || res.Error.Name != "ZeroDivisionError" || res.Error.Value != "division by zero" ||
			!strings.Contains(res.Error.Traceback, "return 1 / 0") || res.ExitCode == 0 {
			t.Fatalf("error %+v exit %d", res.Error, res.ExitCode)
		}
		if res := run(t, py.ID, codeint.Python, "x"); !slices.Equal(plain(res), []string{"21"}) {
			t.Fatalf("after the error x is %+v", res)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		done := make(chan *codeint.ExecutionResult, 1)
		go func() {
			res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, ContextID: py.ID,
				Code: "import time\nwhile True:\n    time.sleep(0.01)"})
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		waitUntil(t, "the cell to run", func() bool {
			list, err := c.Contexts(ctx, sb.ID)
			return err == nil && len(list) == 1 && list[0].Busy
		})
		if _, err := c.InterruptContext(ctx, sb.ID, py.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-done:
			if res == nil || res.Error == nil || res.Error.Name != "KeyboardInterrupt" || res.ContextRestarted {
				t.Fatalf("interrupted cell: %+v", res)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the interrupted cell did not end")
		}
		if res := run(t, py.ID, codeint.Python, "x"); !slices.Equal(plain(res), []string{"21"}) {
			t.Fatalf("after the interrupt x is %+v", res)
		}
	})

	t.Run("javascript", func(t *testing.T) {
		js, err := c.CreateContext(ctx, sb.ID, codeint.JavaScript, "")
		if err != nil {
			t.Fatal(err)
		}
		run(t, js.ID, codeint.JavaScript, "const os = require('os'); let n = 40")
		run(t, js.ID, codeint.JavaScript, "n += 1; function twice(v) { return 2 * v }")
		res := run(t, js.ID, codeint.JavaScript, "console.log(typeof os.hostname()); twice(n) - 40")
		if res.Stdout != "string\n" || !slices.Equal(plain(res), []string{"42"}) {
			t.Fatalf("third cell: %+v", res)
		}
		res = run(t, js.ID, codeint.JavaScript, "null.x")
		if res.Error == nil || res.Error.Name != "TypeError" || res.Error.Traceback == "" {
			t.Fatalf("error %+v", res.Error)
		}
		if err := c.RemoveContext(ctx, sb.ID, js.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("restart forgets", func(t *testing.T) {
		if _, err := c.RestartContext(ctx, sb.ID, py.ID); err != nil {
			t.Fatal(err)
		}
		res := run(t, py.ID, codeint.Python, "x")
		if res.Error == nil || res.Error.Name != "NameError" {
			t.Fatalf("after restart: %+v", res)
		}
	})

	t.Run("not the caller's", func(t *testing.T) {
		other, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 120})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Execute(ctx, other.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "1", ContextID: py.ID})
		wantCode(t, err, codeint.CodeNotFound)
		_, err = c.InterruptContext(ctx, other.ID, py.ID)
		wantCode(t, err, codeint.CodeNotFound)
		stranger := d.stranger(t, "ctx-other")
		_, err = stranger.Contexts(ctx, sb.ID)
		wantCode(t, err, codeint.CodeNotFound)
		_, err = stranger.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "1", ContextID: py.ID})
		wantCode(t, err, codeint.CodeNotFound)
		err = c.RemoveContext(ctx, sb.ID, "ctx_nope")
		wantCode(t, err, codeint.CodeNotFound)
		_, err = c.CreateContext(ctx, sb.ID, codeint.Rust, "")
		wantCode(t, err, codeint.CodeInvalidArgument)
		_, err = c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.JavaScript, Code: "1", ContextID: py.ID})
		wantCode(t, err, codeint.CodeInvalidArgument)
	})

	t.Run("remove", func(t *testing.T) {
		if err := c.RemoveContext(ctx, sb.ID, py.ID); err != nil {
			t.Fatal(err)
		}
		list, err := c.Contexts(ctx, sb.ID)
		if err != nil || len(list) != 0 {
			t.Fatalf("after remove: %+v %v", list, err)
		}
		_, err = c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "1", ContextID: py.ID})
		wantCode(t, err, codeint.CodeNotFound)
	})
}
