package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// sandboxPut uploads a local file (or stdin for "-") to path in a sandbox.
func sandboxPut(ctx context.Context, c *codeint.Client, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 3 {
		return errors.New("usage: codeint sandbox put ID LOCAL_FILE|- PATH")
	}
	src := stdin
	if args[1] != "-" {
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	fi, err := c.Upload(ctx, args[0], args[2], src)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %d %s\n", fi.Path, fi.Size, fi.SHA256)
	return nil
}

// sandboxGet downloads path from a sandbox to a local file (stdout when
// none is given), checking its SHA-256.
func sandboxGet(ctx context.Context, c *codeint.Client, args []string, stdout io.Writer) error {
	if len(args) != 2 && len(args) != 3 {
		return errors.New("usage: codeint sandbox get ID PATH [LOCAL_FILE]")
	}
	if len(args) == 2 {
		_, _, err := c.Download(ctx, args[0], args[1], stdout)
		return err
	}
	f, err := os.Create(args[2])
	if err != nil {
		return err
	}
	if _, _, err := c.Download(ctx, args[0], args[1], f); err != nil {
		f.Close()
		os.Remove(args[2])
		return err
	}
	return f.Close()
}

// sandboxShell opens a terminal in a sandbox and connects it to this
// one: keystrokes go in raw, the screen comes back, the window's size
// follows. With stdin not a terminal, its lines are typed in as they are.
// It exits with the shell's exit status.
func sandboxShell(ctx context.Context, c *codeint.Client, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) < 1 {
		return errors.New("usage: codeint sandbox shell ID [PROGRAM [ARGS…]]")
	}
	id := args[0]
	in := codeint.TerminalInput{Cols: 80, Rows: 24}
	if len(args) > 1 {
		in.Cmd, in.Args = args[1], args[2:]
	}
	inFd, outFd := fdOf(stdin), fdOf(stdout)
	if ws, err := unix.IoctlGetWinsize(outFd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
		in.Cols, in.Rows = int(ws.Col), int(ws.Row)
	}
	term, err := c.OpenTerminal(ctx, id, in)
	if err != nil {
		return err
	}
	if restore, err := makeRaw(inFd); err == nil {
		defer restore()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go followWindow(ctx, c, id, term.PID, outFd, winch)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stdin.Read(buf)
			if n > 0 {
				if _, serr := c.SendInput(ctx, id, term.PID, buf[:n]); serr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	exit, err := c.FollowProcess(ctx, id, term.PID, func(ev codeint.ProcessEvent) {
		if ev.Output != nil {
			_, _ = stdout.Write(ev.Output.Data)
		}
	})
	if err != nil {
		return err
	}
	if exit.ExitCode != 0 {
		return exitError(exit.ExitCode)
	}
	return nil
}

// fdOf is the descriptor of a file, -1 for any other reader or writer.
func fdOf(v any) int {
	if f, ok := v.(*os.File); ok {
		return int(f.Fd())
	}
	return -1
}

// followWindow resizes the sandbox's terminal when this one's changes.
func followWindow(ctx context.Context, c *codeint.Client, id string, pid, fd int, winch <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-winch:
			if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
				_, _ = c.ResizeTerminal(ctx, id, pid, int(ws.Col), int(ws.Row))
			}
		}
	}
}

// makeRaw puts the terminal fd in raw mode, as cfmakeraw(3) does, and
// returns what restores it; an error when fd is not a terminal.
func makeRaw(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
