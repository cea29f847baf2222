package reaper

import (
	"syscall"
	"testing"
	"time"
)

func TestStartDeliversStatus(t *testing.T) {
	r := New()
	defer r.Close()
	for _, tc := range []struct {
		args []string
		exit int
	}{
		{[]string{"/bin/sh", "-c", "exit 7"}, 7},
		{[]string{"/bin/sh", "-c", "true"}, 0},
	} {
		_, status, err := r.Start(func() (int, error) {
			return syscall.ForkExec(tc.args[0], tc.args, &syscall.ProcAttr{})
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-status:
			if !st.Wait.Exited() || st.Wait.ExitStatus() != tc.exit {
				t.Fatalf("%v: status %v", tc.args, st.Wait)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: no status", tc.args)
		}
	}
}
