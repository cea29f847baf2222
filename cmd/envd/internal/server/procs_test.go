package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

func TestProcStartAttach(t *testing.T) {
	sess := newSession(t)
	cwd := t.TempDir()
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", `cat; echo "$X $BASE $PWD" "$@"; echo oops >&2; exit 3`, "zero", "a b", "c"},
		Cwd:  cwd, Env: map[string]string{"X": "x1"}, Stdin: "in\n", Tag: "t1"})
	info := ps.info(t)
	if info.PID <= 0 || info.Cmd != "sh" || info.Cwd != cwd || info.Tag != "t1" || info.PTY || info.StartedAtNS == 0 {
		t.Fatalf("info %+v", info)
	}
	exit := ps.wait(t)
	if want := "in\nx1 1 " + cwd + " a b c\n"; ps.stdout.String() != want || ps.stderr.String() != "oops\n" {
		t.Fatalf("stdout %q (want %q), stderr %q", ps.stdout.String(), want, ps.stderr.String())
	}
	if exit.ExitCode != 3 || exit.Signal != "" || exit.TimedOut || exit.Truncated || exit.EndedAtNS < info.StartedAtNS {
		t.Fatalf("exit %+v", exit)
	}
	if ps.frames[0] != envdproto.FrameProcessReply {
		t.Fatalf("frames %v", ps.frames)
	}
}

func TestProcBackground(t *testing.T) {
	sess := newSession(t)
	begin := time.Now()
	info := procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "echo early; sleep 0.5; echo late"}, Detach: true})
	if time.Since(begin) > 400*time.Millisecond || !info.Running {
		t.Fatalf("detached start took %v: %+v", time.Since(begin), info)
	}
	if p := listed(t, sess, info.PID); p == nil || !p.Running || p.Exit != nil {
		t.Fatalf("list while running: %+v", p)
	}
	// Two attachers at once, attached before "late": both get everything.
	a1 := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	a2 := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	a1.waitOutput(t, "early\n")
	a2.waitOutput(t, "early\n")
	if out := a1.out(); strings.Contains(out, "late") {
		t.Fatalf("attached too late to see live output: %q", out)
	}
	for _, a := range []*procStream{a1, a2} {
		if exit := a.wait(t); exit.ExitCode != 0 || a.stdout.String() != "early\nlate\n" {
			t.Fatalf("attach: %q %+v", a.stdout.String(), exit)
		}
	}
	if p := listed(t, sess, info.PID); p == nil || p.Running || p.Exit == nil || p.Exit.ExitCode != 0 {
		t.Fatalf("list after exit: %+v", p)
	}
	// History replay: attach after the exit gets everything at once.
	a3 := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	if exit := a3.wait(t); exit.ExitCode != 0 || a3.stdout.String() != "early\nlate\n" {
		t.Fatalf("replay: %q %+v", a3.stdout.String(), exit)
	}
}

// TestProcDetachOnClose closes the start stream: the process goes on.
func TestProcDetachOnClose(t *testing.T) {
	sess := newSession(t)
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "echo one; sleep 0.4; echo two"}})
	info := ps.info(t)
	ps.waitOutput(t, "one\n")
	ps.st.Close()
	ps.end(t)
	if ps.exit != nil {
		t.Fatalf("exit before the process ended: %+v", ps.exit)
	}
	a := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	if exit := a.wait(t); exit.ExitCode != 0 || a.stdout.String() != "one\ntwo\n" {
		t.Fatalf("attach after detach: %q %+v", a.stdout.String(), exit)
	}
}

func TestProcInput(t *testing.T) {
	sess := newSession(t)
	info := procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "cat",
		Stdin: "a\n", KeepStdin: true, Detach: true})
	a := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	a.waitOutput(t, "a\n")
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessInput, PID: info.PID, Data: []byte("b\n")})
	a.waitOutput(t, "a\nb\n")
	if p := procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessClose, PID: info.PID}); p.PID != info.PID {
		t.Fatalf("close: %+v", p)
	}
	if exit := a.wait(t); exit.ExitCode != 0 || a.stdout.String() != "a\nb\n" {
		t.Fatalf("cat: %q %+v", a.stdout.String(), exit)
	}
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessInput, PID: info.PID, Data: []byte("c")}, envdproto.CodeFailedPrecondition)

	// Without KeepStdin, stdin is closed after Stdin.
	sh := procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "cat; sleep 5"}, Stdin: "x", Detach: true})
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessInput, PID: sh.PID, Data: []byte("y")}, envdproto.CodeFailedPrecondition)
	a = openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: sh.PID})
	a.waitOutput(t, "x")
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: sh.PID, Signal: "SIGKILL"})
	if exit := a.wait(t); exit.ExitCode != 137 || a.stdout.String() != "x" {
		t.Fatalf("sh: %q %+v", a.stdout.String(), exit)
	}
}

func TestProcSignal(t *testing.T) {
	sess := newSession(t)
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sleep", Args: []string{"100"}})
	info := ps.info(t)
	for _, sig := range []string{"SIGSEGV", "TERM", "", "SIGFOO"} {
		procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: sig}, envdproto.CodeInvalidArgument)
	}
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: "SIGTERM"})
	if exit := ps.wait(t); exit.ExitCode != 143 || exit.Signal != "SIGTERM" || exit.TimedOut {
		t.Fatalf("exit %+v", exit)
	}
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: "SIGTERM"}, envdproto.CodeFailedPrecondition)
}

// TestProcKillGroup kills a process whose child runs in the background.
func TestProcKillGroup(t *testing.T) {
	sess := newSession(t)
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "sleep 100 & echo $!; wait"}})
	info := ps.info(t)
	ps.waitOutput(t, "\n")
	child, err := strconv.Atoi(strings.TrimSpace(ps.out()))
	if err != nil {
		t.Fatalf("child pid: %q", ps.out())
	}
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: "SIGKILL"})
	if exit := ps.wait(t); exit.ExitCode != 137 || exit.Signal != "SIGKILL" {
		t.Fatalf("exit %+v", exit)
	}
	gone(t, child)
}

func TestProcTimeout(t *testing.T) {
	sess := newSession(t)
	begin := time.Now()
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "sleep 100 & echo $!; sleep 100"}, TimeoutMS: 300})
	ps.info(t)
	exit := ps.wait(t)
	if !exit.TimedOut || exit.ExitCode != 137 || exit.Signal != "SIGKILL" || time.Since(begin) > 3*time.Second {
		t.Fatalf("exit %+v after %v", exit, time.Since(begin))
	}
	child, err := strconv.Atoi(strings.TrimSpace(ps.stdout.String()))
	if err != nil {
		t.Fatalf("child pid: %q", ps.stdout.String())
	}
	gone(t, child)
}

func TestProcBadRequests(t *testing.T) {
	sess := newSession(t)
	for _, op := range []string{envdproto.ProcessAttach, envdproto.ProcessInput, envdproto.ProcessClose,
		envdproto.ProcessSignal, envdproto.ProcessResize} {
		procCode(t, sess, &envdproto.ProcessRequest{Op: op, PID: 999999999, Signal: "SIGTERM",
			Size: &envdproto.PTYSize{Cols: 1, Rows: 1}}, envdproto.CodeNotFound)
	}
	for _, req := range []*envdproto.ProcessRequest{
		{Op: "frobnicate"},
		{Op: envdproto.ProcessStart},
		{Op: envdproto.ProcessStart, Cmd: "no-such-command-here"},
		{Op: envdproto.ProcessStart, Cmd: "/no/such/file"},
		{Op: envdproto.ProcessStart, Cmd: "true", Cwd: "relative"},
		{Op: envdproto.ProcessStart, Cmd: "true", Env: map[string]string{"A=B": "x"}},
		{Op: envdproto.ProcessStart, Cmd: "true", TimeoutMS: -1},
		{Op: envdproto.ProcessStart, Cmd: "true", PTY: &envdproto.PTYSize{Cols: 80}},
		{Op: envdproto.ProcessStart, Cmd: "/etc/passwd"},
	} {
		procCode(t, sess, req, envdproto.CodeInvalidArgument)
	}
	// The command is looked up in the process's own PATH.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "mycmd"), []byte("#!/bin/sh\necho mine\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "mycmd",
		Env: map[string]string{"PATH": bin + ":/usr/bin:/bin"}})
	if exit := ps.wait(t); exit.ExitCode != 0 || ps.stdout.String() != "mine\n" {
		t.Fatalf("mycmd: %q %+v", ps.stdout.String(), exit)
	}
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "mycmd"}, envdproto.CodeInvalidArgument)
	// A process without a terminal cannot be resized.
	info := procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sleep", Args: []string{"5"}, Detach: true})
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessResize, PID: info.PID,
		Size: &envdproto.PTYSize{Cols: 10, Rows: 10}}, envdproto.CodeFailedPrecondition)
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: "SIGKILL"})
}

// TestProcHistory checks the history's bound and the exited processes'.
func TestProcHistory(t *testing.T) {
	sess := newSession(t)
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", `head -c 1572864 /dev/zero | tr '\0' x; echo end`}, Detach: true})
	info := ps.info(t)
	a := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	a.wait(t)
	replay := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	exit := replay.wait(t)
	out := replay.stdout.String()
	if !exit.Truncated || len(out) != historyLimit || !strings.HasSuffix(out, "xxxend\n") {
		t.Fatalf("replay: %d bytes ending %q, %+v", len(out), out[max(0, len(out)-10):], exit)
	}

	var pids []int
	for range maxExited + 2 {
		ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "true"})
		pids = append(pids, ps.info(t).PID)
		ps.wait(t)
	}
	rep, perr := procCall(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessList})
	if perr != nil || len(rep.Processes) != maxExited {
		t.Fatalf("list: %d processes, %+v", len(rep.Processes), perr)
	}
	var got []int
	for _, p := range rep.Processes {
		got = append(got, p.PID)
	}
	if !slices.Equal(got, pids[2:]) {
		t.Fatalf("list has %v, want the last %d of %v", got, maxExited, pids)
	}
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: pids[0]}, envdproto.CodeNotFound)
}

// TestProcSlowAttacher checks that an attacher that reads nothing is
// dropped, while the process and another attacher go on.
func TestProcSlowAttacher(t *testing.T) {
	sess := newSession(t)
	// 6 MiB, more than the lazy attacher's flow-control window and
	// queue, in pieces the active attacher keeps up with.
	const pieces, piece = 24, 256 << 10
	const size = pieces * piece
	info := procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args:   []string{"-c", fmt.Sprintf(`sleep 0.3; for i in $(seq %d); do head -c %d /dev/zero | tr '\0' x; sleep 0.02; done`, pieces, piece)},
		Detach: true})
	lazy, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	if err := envdproto.WriteJSON(lazy, envdproto.FrameProcessRequest, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID}); err != nil {
		t.Fatal(err)
	}
	a := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: info.PID})
	if exit := a.wait(t); exit.ExitCode != 0 || a.stdout.Len() != size {
		t.Fatalf("active attacher: %d bytes, %+v", a.stdout.Len(), exit)
	}
	// The lazy one was closed without an exit frame, having got less.
	_ = lazy.SetReadDeadline(time.Now().Add(procWait))
	var got int
	for {
		ft, payload, err := envdproto.ReadFrame(lazy)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("lazy attacher: still open: %v", err)
			}
			break
		}
		if ft == envdproto.FrameProcessExit {
			t.Fatal("the lazy attacher got the exit: it was not dropped")
		}
		if ft == envdproto.FrameOutput {
			got += len(payload) - 1
		}
	}
	if got >= size {
		t.Fatalf("lazy attacher got %d bytes", got)
	}
}

func TestProcPTY(t *testing.T) {
	sess := newSession(t)
	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "bash",
		Args: []string{"--norc", "--noprofile", "-i"}, PTY: &envdproto.PTYSize{Cols: 100, Rows: 30},
		Env: map[string]string{"PS1": "$ "}})
	info := ps.info(t)
	if !info.PTY {
		t.Fatalf("info %+v", info)
	}
	input := func(s string) {
		t.Helper()
		procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessInput, PID: info.PID, Data: []byte(s)})
	}
	input("stty size; tty; echo T=$TERM\n")
	ps.waitOutput(t, "30 100")
	ps.waitOutput(t, "/dev/pts/")
	ps.waitOutput(t, "T=xterm-256color")
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessResize, PID: info.PID, Size: &envdproto.PTYSize{Cols: 120, Rows: 40}})
	input("stty size\n")
	ps.waitOutput(t, "40 120")
	// SIGINT reaches the foreground job, as ^C would; the shell goes on.
	input("echo st''arted; sleep 100; echo sl''ept\n")
	ps.waitOutput(t, "started")
	time.Sleep(100 * time.Millisecond)
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: "SIGINT"})
	input("echo after$((1+1))\n")
	ps.waitOutput(t, "after2")
	if strings.Contains(ps.out(), "slept") {
		t.Fatalf("sleep was not interrupted: %q", ps.out())
	}
	input("exit 5\n")
	if exit := ps.wait(t); exit.ExitCode != 5 {
		t.Fatalf("exit %+v", exit)
	}
	if ps.stderr.Len() != 0 {
		t.Fatalf("a terminal's output is stdout; stderr %q", ps.stderr.String())
	}
	procCode(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessResize, PID: info.PID, Size: &envdproto.PTYSize{Cols: 1, Rows: 1}}, envdproto.CodeFailedPrecondition)

	// close sends EOT: cat reading the terminal ends.
	cat := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "cat", PTY: &envdproto.PTYSize{Cols: 80, Rows: 24}})
	ci := cat.info(t)
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessInput, PID: ci.PID, Data: []byte("hello\n")})
	cat.waitOutput(t, "hello\r\nhello\r\n") // the terminal's echo, then cat's
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessClose, PID: ci.PID})
	if exit := cat.wait(t); exit.ExitCode != 0 {
		t.Fatalf("cat exit %+v", exit)
	}
}

// TestProcRunAs runs processes as an unprivileged uid with a terminal of
// its own, and kills one whose child left its process group and session.
func TestProcRunAs(t *testing.T) {
	sess := newSessionWith(t, runAsConfig(t))

	ps := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "id -u; id -G"}})
	ps.info(t)
	if exit := ps.wait(t); exit.ExitCode != 0 {
		t.Fatalf("exit %+v", exit)
	}
	ids := strings.Fields(ps.stdout.String())
	if len(ids) != 3 || ids[0] != "65534" || ids[1] != "65534" {
		t.Fatalf("id: %q", ps.stdout.String())
	}
	if gid, _ := strconv.Atoi(ids[2]); gid < execGroupFirst || gid >= execGroupFirst+execGroupCount {
		t.Fatalf("execution group %q out of range", ids[2])
	}

	// The terminal is the user's: the shell can reopen it by its path.
	term := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", `id -u; stat -c 'owner=%u' "$(tty)"; echo reopened > "$(tty)"`}, PTY: &envdproto.PTYSize{Cols: 80, Rows: 24}})
	term.info(t)
	if exit := term.wait(t); exit.ExitCode != 0 || !strings.Contains(term.stdout.String(), "65534\r\nowner=65534\r\nreopened") {
		t.Fatalf("terminal: %q %+v", term.stdout.String(), exit)
	}

	// SIGKILL reaches a child that left the process group and session.
	esc := openProc(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: "sh",
		Args: []string{"-c", "setsid sleep 100 </dev/null >/dev/null 2>&1 & echo $!; sleep 100"}})
	info := esc.info(t)
	esc.waitOutput(t, "\n")
	escapee, err := strconv.Atoi(strings.TrimSpace(esc.out()))
	if err != nil {
		t.Fatalf("escapee: %q", esc.out())
	}
	escaped(t, escapee)
	procOK(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: info.PID, Signal: "SIGKILL"})
	if exit := esc.wait(t); exit.ExitCode != 137 {
		t.Fatalf("exit %+v", exit)
	}
	gone(t, escapee)
}
