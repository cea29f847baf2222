package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/codeint/codeint/internal/langtest"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// TestLanguages runs every language's hello (stdin, stdout, exit code) and,
// for compiled ones, a compile error: a result with the compiler's output
// apart from the run's, not an API error.
func TestLanguages(t *testing.T) {
	home, build := t.TempDir(), t.TempDir()
	sess := newSessionWith(t, Config{RunDir: t.TempDir(), WorkDir: home, BuildDir: build,
		Env: []string{"PATH=/usr/bin:/bin", "HOME=" + home}})
	for lang, p := range langtest.Programs {
		t.Run(lang, func(t *testing.T) {
			compiled := p.Broken != ""
			rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: lang, Code: p.Hello,
				Stdin: "world\n", TimeoutMS: 120_000})
			if rep.err != nil || rep.result == nil {
				t.Fatalf("no result: %+v", rep)
			}
			res := rep.result
			if rep.stdout != "hello world\n" || res.ExitCode != 3 {
				t.Errorf("want stdout %q exit 3, got %q exit %d, stderr %q, error %+v, compile %+v",
					"hello world\n", rep.stdout, res.ExitCode, rep.stderr, res.Error, res.Compile)
			}
			if compiled != (res.Compile != nil) {
				t.Errorf("compiled %v, but compile step %+v", compiled, res.Compile)
			}
			if res.Compile != nil && (res.Compile.ExitCode != 0 || res.Compile.DurationNS <= 0) {
				t.Errorf("compile step: %+v", res.Compile)
			}
			if !compiled {
				return
			}
			rep = call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: lang, Code: p.Broken, TimeoutMS: 120_000})
			if rep.err != nil || rep.result == nil {
				t.Fatalf("no result for a compile error: %+v", rep)
			}
			res = rep.result
			if res.Error == nil || res.Error.Name != envdproto.ErrNameCompile || res.Compile == nil || res.Compile.ExitCode == 0 ||
				res.ExitCode == 0 || res.Compile.Stderr+res.Compile.Stdout == "" || rep.stdout != "" || rep.stderr != "" {
				t.Errorf("want a COMPILE_ERROR result with the compiler's output and no run output: stdout %q stderr %q result %+v compile %+v",
					rep.stdout, rep.stderr, res, res.Compile)
			}
		})
	}
	if t.Failed() {
		return
	}
	t.Run("build dirs removed, caches kept", func(t *testing.T) {
		if left, _ := os.ReadDir(build); len(left) != 0 {
			t.Errorf("%d build dirs left behind, e.g. %s", len(left), left[0].Name())
		}
		if _, err := os.Stat(home + "/.cache/go-build"); err != nil {
			t.Errorf("the Go build cache is not kept in the home dir: %v", err)
		}
	})
}

func TestJavaClassName(t *testing.T) {
	l, err := lookupLanguage(envdproto.LangJava)
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]string{
		"public class Foo { }":                       "Foo.java",
		"class Helper {}\npublic final class Bar {}": "Bar.java",
		"class NoPublic {}":                          "Main.java",
	} {
		if got := l.source(code); got != want {
			t.Errorf("source(%q) = %q, want %q", code, got, want)
		}
	}
}

// TestArgsAndCwd passes arguments to interpreted and compiled programs and
// runs them in a given directory; a cwd that is not a directory is
// INVALID_ARGUMENT.
func TestArgsAndCwd(t *testing.T) {
	home, cwd := t.TempDir(), t.TempDir()
	sess := newSessionWith(t, Config{RunDir: t.TempDir(), WorkDir: home, BuildDir: t.TempDir(),
		Env: []string{"PATH=/usr/bin:/bin", "HOME=" + home}})
	for lang, code := range map[string]string{
		envdproto.LangBash:   `echo "$# $1|$2 $(pwd)"`,
		envdproto.LangPython: `import os, sys; print(len(sys.argv) - 1, "|".join(sys.argv[1:]), os.getcwd())`,
		envdproto.LangC: `#include <stdio.h>
#include <unistd.h>
int main(int c, char **v) { char d[4096]; printf("%d %s|%s %s\n", c - 1, v[1], v[2], getcwd(d, sizeof d)); return 0; }`,
	} {
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: lang, Code: code,
			Args: []string{"a b", "-c"}, Cwd: cwd, TimeoutMS: 60_000})
		if want := "2 a b|-c " + cwd + "\n"; rep.result == nil || rep.stdout != want {
			t.Errorf("%s: stdout %q, want %q (%+v %+v)", lang, rep.stdout, want, rep.err, rep.result)
		}
	}
	rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash, Code: "pwd",
		Cwd: filepath.Join(cwd, "missing")})
	if rep.err == nil || rep.err.Code != envdproto.CodeInvalidArgument || rep.result != nil {
		t.Errorf("a missing cwd: %+v %+v, want INVALID_ARGUMENT", rep.err, rep.result)
	}
}
