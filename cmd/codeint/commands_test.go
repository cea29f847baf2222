package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestCommands drives commands and terminals in a real sandbox: a command
// run to its end with args, cwd, env and stdin; a background command that
// outlives the request that started it and is followed later; stdin
// written while it runs; signals; a terminal driven as xterm.js would.
func TestCommands(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "0")
	c := d.client()
	ctx := ctxT(t, 5*time.Minute)
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 600, Env: []codeint.EnvVar{{Name: "FROM_SANDBOX", Value: "s"}}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("run with args, cwd, env and stdin", func(t *testing.T) {
		res, err := c.RunCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "sh", Args: []string{"-c", `read l; echo "$l $X $FROM_SANDBOX $(pwd) $0"; echo err >&2; exit 3`, "arg0"},
			Cwd: "/tmp", Env: []codeint.EnvVar{{Name: "X", Value: "x"}}, Stdin: "in\n"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "in x s /tmp arg0\n" || res.Stderr != "err\n" || res.Exit.ExitCode != 3 || res.Process.Running {
			t.Fatalf("result %+v", res)
		}
	})

	t.Run("background outlives its request", func(t *testing.T) {
		p, err := c.StartCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "sh", Args: []string{"-c", "echo early; sleep 1; echo late"}, Tag: "bg"})
		if err != nil {
			t.Fatal(err)
		}
		if p.PID <= 0 || !p.Running || p.Tag != "bg" {
			t.Fatalf("started %+v", p)
		}
		list, err := c.Processes(ctx, sb.ID)
		if err != nil || !hasRunning(list, p.PID) {
			t.Fatalf("processes %+v %v", list, err)
		}
		var out strings.Builder
		exit, err := c.FollowProcess(ctx, sb.ID, p.PID, func(ev codeint.ProcessEvent) {
			if ev.Output != nil {
				out.Write(ev.Output.Data)
			}
		})
		if err != nil || exit.ExitCode != 0 || out.String() != "early\nlate\n" {
			t.Fatalf("followed: %q exit %+v %v", out.String(), exit, err)
		}
		// Followed again after the end: the kept output and the exit.
		out.Reset()
		if _, err := c.FollowProcess(ctx, sb.ID, p.PID, func(ev codeint.ProcessEvent) {
			if ev.Output != nil {
				out.Write(ev.Output.Data)
			}
		}); err != nil || out.String() != "early\nlate\n" {
			t.Fatalf("replay: %q %v", out.String(), err)
		}
	})

	t.Run("stdin while it runs, then close", func(t *testing.T) {
		p, err := c.StartCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "cat", KeepStdin: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendInput(ctx, sb.ID, p.PID, []byte("one\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendInput(ctx, sb.ID, p.PID, []byte("two\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CloseStdin(ctx, sb.ID, p.PID); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		exit, err := c.FollowProcess(ctx, sb.ID, p.PID, func(ev codeint.ProcessEvent) {
			if ev.Output != nil {
				out.Write(ev.Output.Data)
			}
		})
		if err != nil || exit.ExitCode != 0 || out.String() != "one\ntwo\n" {
			t.Fatalf("cat: %q %+v %v", out.String(), exit, err)
		}
	})

	t.Run("signal and kill", func(t *testing.T) {
		p, err := c.StartCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "sleep", Args: []string{"300"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SignalProcess(ctx, sb.ID, p.PID, "SIGTERM"); err != nil {
			t.Fatal(err)
		}
		exit, err := c.FollowProcess(ctx, sb.ID, p.PID, nil)
		if err != nil || exit.ExitCode != 143 || exit.Signal != "SIGTERM" {
			t.Fatalf("after SIGTERM: %+v %v", exit, err)
		}
		// A kill takes what the command started in the background too.
		p, err = c.StartCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "sh", Args: []string{"-c", "sleep 300 & echo $!; wait"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.KillProcess(ctx, sb.ID, p.PID); err != nil {
			t.Fatal(err)
		}
		var child strings.Builder
		exit, err = c.FollowProcess(ctx, sb.ID, p.PID, func(ev codeint.ProcessEvent) {
			if ev.Output != nil {
				child.Write(ev.Output.Data)
			}
		})
		if err != nil || exit.Signal != "SIGKILL" {
			t.Fatalf("after kill: %+v %v", exit, err)
		}
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Bash,
			Code: "kill -0 " + strings.TrimSpace(child.String()) + " 2>/dev/null && echo alive || echo gone"})
		if err != nil || res.Stdout != "gone\n" {
			t.Fatalf("the background child of a killed command: %+v %v", res, err)
		}
		_, err = c.SignalProcess(ctx, sb.ID, p.PID, "SIGWHAT")
		wantCode(t, err, codeint.CodeInvalidArgument)
		_, err = c.SignalProcess(ctx, sb.ID, 999999, "SIGTERM")
		wantCode(t, err, codeint.CodeNotFound)
		_, err = c.StartCommand(ctx, sb.ID, codeint.CommandInput{Cmd: "no-such-program"})
		wantCode(t, err, codeint.CodeInvalidArgument)
	})

	t.Run("terminal", func(t *testing.T) {
		term, err := c.OpenTerminal(ctx, sb.ID, codeint.TerminalInput{Cols: 100, Rows: 30, Cmd: "bash", Args: []string{"--norc", "--noprofile", "-i"}})
		if err != nil {
			t.Fatal(err)
		}
		if !term.PTY || !term.Running {
			t.Fatalf("opened %+v", term)
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
		sees := func(want string) bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(screen.String(), want)
		}
		if _, err := c.SendInput(ctx, sb.ID, term.PID, []byte("stty size; tty\n")); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "30 100 and /dev/pts on the terminal", func() bool { return sees("30 100") && sees("/dev/pts/") })
		if _, err := c.ResizeTerminal(ctx, sb.ID, term.PID, 120, 40); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendInput(ctx, sb.ID, term.PID, []byte("stty size\n")); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "40 120 after the resize", func() bool { return sees("40 120") })
		if _, err := c.SendInput(ctx, sb.ID, term.PID, []byte("exit 7\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case exit := <-exited:
			if exit == nil || exit.ExitCode != 7 {
				t.Fatalf("terminal exit %+v", exit)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the terminal did not exit")
		}
		_, err = c.ResizeTerminal(ctx, sb.ID, term.PID, 0, 10)
		wantCode(t, err, codeint.CodeInvalidArgument)
	})
}

func hasRunning(list []codeint.Process, pid int) bool {
	for _, p := range list {
		if p.PID == pid && p.Running {
			return true
		}
	}
	return false
}
