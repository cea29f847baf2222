package server

import (
	"fmt"
	"os"
	"syscall"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPTY opens a terminal of the given size for a process: the master,
// envd's end (output and input), and the slave, the process's stdio and
// controlling terminal.
//
// The slave must belong to the user (programs check their terminal, and
// open it again by its /dev/pts path). devpts gives a new terminal the
// file-system uid and gid of the process that opens /dev/ptmx (unless
// mounted with uid=/gid=), so with Config.RunAs envd opens it with the
// user's identity (asUser): no CAP_CHOWN needed, which envd lacks in a
// container. If the slave still is not the user's (a devpts mounted
// with uid=), envd tries to chown it; when it may not, the process still
// uses the terminal through the descriptors it inherits (and /dev/tty,
// which needs no permission on the slave), only reopening the /dev/pts
// path fails for it. envd logs that.
//
// The master is made non-blocking again (pty.Open's ioctls go through
// os.File.Fd, which makes a file blocking), so that closing it ends a
// read pending in envd's reader.
func (s *Server) openPTY(size envdproto.PTYSize) (master, slave *os.File, err error) {
	var m, t *os.File
	if err := s.asUser(func() error {
		var err error
		m, t, err = pty.Open()
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("open a terminal: %w", err)
	}
	defer func() {
		if err != nil {
			closeAll([]*os.File{m, t, master})
		}
	}()
	if err := pty.Setsize(t, &pty.Winsize{Rows: size.Rows, Cols: size.Cols}); err != nil {
		return nil, nil, fmt.Errorf("set the terminal's size: %w", err)
	}
	if s.cfg.RunAs != nil {
		s.ensureTTYOwner(t)
	}
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("dup the terminal's master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("make the terminal's master non-blocking: %w", err)
	}
	master = os.NewFile(uintptr(fd), m.Name()) // non-blocking: pollable
	m.Close()
	return master, t, nil
}

// ensureTTYOwner makes the terminal t the user's if it is not yet.
func (s *Server) ensureTTYOwner(t *os.File) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(t.Fd()), &st); err != nil || st.Uid == s.cfg.RunAs.UID {
		return
	}
	if err := t.Chown(int(s.cfg.RunAs.UID), int(s.cfg.RunAs.GID)); err != nil {
		s.cfg.Logger.Info("terminal stays owned by another uid: the process uses it through its inherited descriptors and /dev/tty, but cannot reopen its /dev/pts path",
			"tty", t.Name(), "owner_uid", st.Uid, "err", err)
	}
}

// setTermSize sets the size of the terminal whose master is m (the kernel
// signals SIGWINCH to its foreground group).
func setTermSize(m *os.File, size envdproto.PTYSize) error {
	ws := &unix.Winsize{Row: size.Rows, Col: size.Cols}
	if err := control(m, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) }); err != nil {
		return fmt.Errorf("resize terminal: %w", err)
	}
	return nil
}

// foregroundGroup returns the foreground process group of the terminal
// whose master is m.
func foregroundGroup(m *os.File) (int, error) {
	var pgrp int
	err := control(m, func(fd int) error {
		var err error
		pgrp, err = unix.IoctlGetInt(fd, unix.TIOCGPGRP)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("terminal's foreground group: %w", err)
	}
	return pgrp, nil
}

// control runs fn on f's descriptor without making f blocking (as Fd
// would).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return err
	}
	return fnErr
}
