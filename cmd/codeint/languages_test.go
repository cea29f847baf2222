package main

import (
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/internal/langtest"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestLanguages runs every language in a real sandbox through GraphQL:
// hello with stdin and a non-zero exit, and for compiled languages a
// compile error that comes back as a result (COMPILE_ERROR, the compiler's
// output in `compile`) and a second run served from the kept caches.
func TestLanguages(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "0")
	c := d.client()
	ctx := ctxT(t, 10*time.Minute)

	langs, err := c.Languages(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]codeint.LanguageInfo{}
	for _, l := range langs {
		versions[l.Language] = l
	}
	for lang, p := range langtest.Programs {
		if l, ok := versions[lang]; !ok || l.Version == "" || l.Compiled != (p.Broken != "") {
			t.Errorf("languages(base) has %s as %+v (present %v), want a version and compiled=%v", lang, l, ok, p.Broken != "")
		}
	}
	if _, err := c.Languages(ctx, "no-such-template"); codeint.CodeOf(err) != codeint.CodeNotFound {
		t.Errorf("languages of an unknown template: %v, want NOT_FOUND", err)
	}

	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 900, MemoryMB: 1024, VCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("args and cwd", func(t *testing.T) {
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Args: []string{"a b", "-c"}, Cwd: "/tmp",
			Code: `import os, sys; print(sys.argv[1:], os.getcwd())`})
		if err != nil || res.Stdout != "['a b', '-c'] /tmp\n" {
			t.Errorf("args and cwd: %v %+v", err, res)
		}
		for _, cwd := range []string{"relative", "/no/such/dir", "/etc/hostname"} {
			_, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "pwd", Cwd: cwd})
			if codeint.CodeOf(err) != codeint.CodeInvalidArgument {
				t.Errorf("cwd %q: %v, want INVALID_ARGUMENT", cwd, err)
			}
		}
	})
	for _, lang := range []string{codeint.Python, codeint.JavaScript, codeint.Bash, codeint.C, codeint.CPP,
		codeint.Rust, codeint.Java, codeint.TypeScript, codeint.Go} {
		p := langtest.Programs[lang]
		t.Run(lang, func(t *testing.T) {
			compiled := p.Broken != ""
			runs := 1
			if compiled {
				runs = 2 // the second compile reuses what the first cached
			}
			for i := range runs {
				res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: lang, Code: p.Hello, Stdin: "world\n", TimeoutSeconds: 240})
				if err != nil {
					t.Fatal(err)
				}
				if res.Stdout != "hello world\n" || res.ExitCode != 3 || res.Error != nil && res.Error.Name == "COMPILE_ERROR" {
					t.Fatalf("run %d: stdout %q exit %d stderr %q error %+v compile %+v", i, res.Stdout, res.ExitCode, res.Stderr, res.Error, res.Compile)
				}
				if compiled != (res.Compile != nil) || compiled && res.Compile.ExitCode != 0 {
					t.Errorf("run %d: compiled %v, compile step %+v", i, compiled, res.Compile)
				}
				if compiled {
					t.Logf("run %d: compile %.0f ms, run %.0f ms", i, res.Compile.DurationMs, res.Metrics.DurationMs)
				}
			}
			if !compiled {
				return
			}
			res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: lang, Code: p.Broken, TimeoutSeconds: 240})
			if err != nil {
				t.Fatalf("a compile error must be a result, not an API error: %v", err)
			}
			if res.Error == nil || res.Error.Name != "COMPILE_ERROR" || res.Compile == nil || res.Compile.ExitCode == 0 ||
				strings.TrimSpace(res.Compile.Stderr+res.Compile.Stdout) == "" || res.Stdout != "" || res.ExitCode == 0 {
				t.Errorf("want COMPILE_ERROR with the compiler's output apart from the run's: %+v compile %+v", res, res.Compile)
			}
		})
	}
}
