package server

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestSeteid checks the identity switch envd falls back to where the
// kernel has no setfsuid (gVisor): a file made in between is the user's,
// and the thread is root again after.
func TestSeteid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test switches uids and needs root (run it as root, as envd runs)")
	}
	dir := t.TempDir()
	for d, mode := range map[string]os.FileMode{dir: 0o777, filepath.Dir(dir): 0o711} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := seteid(65534, 65534); err != nil {
			errs <- err
			return
		}
		err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600)
		_, rootOnly := os.ReadFile("/proc/1/environ")
		if serr := seteid(0, 0); serr != nil {
			errs <- serr
			return
		}
		if rootOnly == nil {
			err = os.ErrInvalid // the user read what only root may
		}
		if err == nil && syscall.Geteuid() != 0 {
			err = os.ErrPermission
		}
		errs <- err
	}()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "f"), &st); err != nil || st.Uid != 65534 || st.Gid != 65534 {
		t.Fatalf("file made as the user: uid %d gid %d (%v)", st.Uid, st.Gid, err)
	}
}
