package server

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// asUser runs fn with the file-system identity of the executions' user
// (Config.RunAs) on a thread of its own: what fn creates belongs to the
// user, and the kernel checks fn's file access as the user's. envd holds
// no CAP_CHOWN nor CAP_DAC_OVERRIDE, so this is how it makes and removes
// files in the user's directories. Without RunAs fn runs as is.
func (s *Server) asUser(fn func() error) error {
	if s.cfg.RunAs == nil {
		return fn()
	}
	runtime.LockOSThread()
	if err := setfsid(int(s.cfg.RunAs.UID), int(s.cfg.RunAs.GID)); err != nil {
		// The thread may be half-switched: let it die with this goroutine.
		return fmt.Errorf("switch to the user's identity: %w", err)
	}
	fnErr := fn()
	if err := setfsid(0, 0); err != nil {
		return fmt.Errorf("switch back from the user's identity: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// setfsid sets the calling thread's file-system uid and gid, and checks
// that they took (setfsuid reports no error, only the previous value).
// gVisor has no setfsuid (ENOSYS): there the thread's effective ids do it.
func setfsid(uid, gid int) error {
	if err := unix.Setfsgid(gid); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return seteid(uid, gid)
		}
		return err
	}
	if err := unix.Setfsuid(uid); err != nil {
		return err
	}
	if prev, _ := unix.SetfsuidRetUid(-1); prev != uid {
		return fmt.Errorf("fsuid is %d, want %d", prev, uid)
	}
	if prev, _ := unix.SetfsgidRetGid(-1); prev != gid {
		return fmt.Errorf("fsgid is %d, want %d", prev, gid)
	}
	return nil
}

// seteid sets the calling thread's effective uid and gid, the real and
// saved ones staying envd's (0), so that seteid(0, 0) switches back and
// brings the capabilities back with it. Raw syscalls: Go's own Setresuid
// changes every thread of the process. The gid goes first on the way to
// the user and last on the way back, while the thread holds CAP_SETGID.
func seteid(uid, gid int) error {
	const keep = ^uintptr(0) // -1: leave that id as it is
	setgid := func() error {
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, keep, uintptr(gid), keep); e != 0 {
			return fmt.Errorf("setresgid(-1, %d, -1): %w", gid, e)
		}
		return nil
	}
	setuid := func() error {
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
			return fmt.Errorf("setresuid(-1, %d, -1): %w", uid, e)
		}
		return nil
	}
	steps := []func() error{setgid, setuid}
	if uid == 0 {
		steps = []func() error{setuid, setgid}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
