package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestSandboxIOGVisor runs what envd does with the user's identity —
// files, a compiled language, a command looked up in PATH, a context, a
// terminal — in a gVisor sandbox, whose kernel has no setfsuid.
func TestSandboxIOGVisor(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "0")
	c := d.client()
	ctx := ctxT(t, 5*time.Minute)
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 300, Runtime: codeint.RuntimeGVisor, MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("files", func(t *testing.T) {
		data := make([]byte, 4<<20)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		fi, err := c.Upload(ctx, sb.ID, "in/data.bin", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var back bytes.Buffer
		if _, sum, err := c.Download(ctx, sb.ID, "in/data.bin", &back); err != nil || sum != fi.SHA256 || !bytes.Equal(back.Bytes(), data) {
			t.Fatalf("round trip: sha %s vs %s: %v", sum, fi.SHA256, err)
		}
		// (coreutils' stat uses statx, which this runsc lacks)
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "import os; print(os.stat('in/data.bin').st_uid)"})
		if err != nil || res.Stdout != "1000\n" {
			t.Fatalf("owner in the sandbox: %+v %v", res, err)
		}
		_, err = c.ReadFile(ctx, sb.ID, "/proc/1/environ")
		wantCode(t, err, codeint.CodeInvalidArgument)
	})

	t.Run("compiled language and cwd", func(t *testing.T) {
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.C, Cwd: "/tmp",
			Code: "#include <stdio.h>\n#include <unistd.h>\nint main(void) { char b[64]; printf(\"%s\\n\", getcwd(b, sizeof b)); return 0; }"})
		if err != nil || res.Stdout != "/tmp\n" || res.ExitCode != 0 {
			t.Fatalf("C in /tmp: %+v %v", res, err)
		}
	})

	t.Run("command and context", func(t *testing.T) {
		res, err := c.RunCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "sh", Args: []string{"-c", "id -u"}})
		if err != nil || res.Stdout != "1000\n" {
			t.Fatalf("command: %+v %v", res, err)
		}
		pc, err := c.CreateContext(ctx, sb.ID, codeint.Python, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, ContextID: pc.ID, Code: "x = 41"}); err != nil {
			t.Fatal(err)
		}
		out, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, ContextID: pc.ID, Code: "x + 1"})
		if err != nil || len(out.Results) != 1 || out.Results[0].Data != "42" {
			t.Fatalf("context: %+v %v", out, err)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		// bash without readline: under this runsc, readline's raw-mode
		// reads on a terminal see an end of file (see README).
		term, err := c.OpenTerminal(ctx, sb.ID, codeint.TerminalInput{Cols: 90, Rows: 20, Args: []string{"--norc", "--noediting", "-i"}})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var screen strings.Builder
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		exited := make(chan *codeint.ProcessExit, 1)
		go func() {
			exit, _ := c.FollowProcess(fctx, sb.ID, term.PID, func(ev codeint.ProcessEvent) {
				if ev.Output != nil {
					mu.Lock()
					screen.Write(ev.Output.Data)
					mu.Unlock()
				}
			})
			exited <- exit
		}()
		if _, err := c.SendInput(ctx, sb.ID, term.PID, []byte("stty size; exit 4\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case exit := <-exited:
			mu.Lock()
			defer mu.Unlock()
			if exit == nil || exit.ExitCode != 4 || !strings.Contains(screen.String(), "20 90") {
				t.Fatalf("terminal: exit %+v, screen %q", exit, screen.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the terminal did not exit")
		}
	})
}
