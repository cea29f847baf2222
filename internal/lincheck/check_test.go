package lincheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Helpers for operations that start and return before the next one starts.

func create(r *Recorder, client int, id string) { r.Create(client)(id, nil) }

func read(r *Recorder, client int, id, state string) { r.Read(client, id)(state, nil) }

func terminate(r *Recorder, client int, id string, o Outcome) { r.Terminate(client, id)(o) }

func mustLinearize(t *testing.T, r *Recorder) Result {
	t.Helper()
	res, err := r.Check(0, "")
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !res.Linearizable {
		t.Fatalf("Check = %+v without error, want linearizable", res)
	}
	return res
}

func mustNotLinearize(t *testing.T, r *Recorder, id string) error {
	t.Helper()
	res, err := r.Check(0, "")
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("Check = %+v, %v; want ErrNotLinearizable", res, err)
	}
	if res.Linearizable {
		t.Fatalf("Check = %+v with error %v", res, err)
	}
	if want := `sandbox "` + id + `"`; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	return err
}

func TestCheckEmpty(t *testing.T) {
	res := mustLinearize(t, NewRecorder())
	if res.Ops != 0 || res.Partitions != 0 {
		t.Fatalf("Check = %+v, want no ops", res)
	}
}

func TestCheckConcurrentHappyHistory(t *testing.T) {
	r := NewRecorder()

	// A read racing the create sees nothing yet.
	created := r.Create(0)
	r.Read(1, "sb-1")("NOT_FOUND", nil)
	created("sb-1", nil)
	read(r, 1, "sb-1", "CREATING")
	read(r, 2, "sb-1", "RUNNING")
	r.Read(2, "sb-1")("", errors.New("unavailable")) // failed: not recorded

	// Reads racing the terminate see it before, during and after.
	terminated := r.Terminate(0, "sb-1")
	before, during := r.Read(1, "sb-1"), r.Read(2, "sb-1")
	before("RUNNING", nil)
	during("STOPPING", nil)
	read(r, 1, "sb-1", "STOPPED")
	terminated(OK)
	read(r, 2, "sb-1", "STOPPED")
	terminate(r, 0, "sb-1", OK) // terminating a stopped sandbox returns it as is
	read(r, 1, "sb-1", "STOPPED")

	// A second sandbox, concurrent with the first, lost with its node.
	created2 := r.Create(3)
	first := r.Create(4)
	first("", errors.New("quota exceeded")) // failed: not recorded
	created2("sb-2", nil)
	read(r, 3, "sb-2", "RUNNING")
	read(r, 4, "sb-2", "LOST")

	// A terminate of an id nobody created.
	terminate(r, 5, "sb-none", NotFound)

	if got, want := r.Len(), 15; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	res := mustLinearize(t, r)
	if res.Ops != 15 || res.Partitions != 3 {
		t.Fatalf("Check = %+v, want 15 ops in 3 partitions", res)
	}
}

func TestCheckDetectsIllegalHistories(t *testing.T) {
	tests := []struct {
		name    string
		history func(r *Recorder)
	}{
		{"read not found after create", func(r *Recorder) {
			create(r, 0, "sb-1")
			read(r, 1, "sb-1", "NOT_FOUND")
		}},
		{"read running after terminate ok", func(r *Recorder) {
			create(r, 0, "sb-1")
			terminate(r, 0, "sb-1", OK)
			read(r, 1, "sb-1", "RUNNING")
		}},
		{"two creates return the same id", func(r *Recorder) {
			create(r, 0, "sb-1")
			create(r, 1, "sb-1")
		}},
		{"two overlapping creates return the same id", func(r *Recorder) {
			a, b := r.Create(0), r.Create(1)
			b("sb-1", nil)
			a("sb-1", nil)
		}},
		{"read running after read stopped", func(r *Recorder) {
			create(r, 0, "sb-1")
			read(r, 1, "sb-1", "STOPPED")
			read(r, 2, "sb-1", "RUNNING")
		}},
		{"read running after read stopping", func(r *Recorder) {
			create(r, 0, "sb-1")
			read(r, 1, "sb-1", "STOPPING")
			read(r, 1, "sb-1", "RUNNING")
		}},
		{"terminate not found after create", func(r *Recorder) {
			create(r, 0, "sb-1")
			terminate(r, 1, "sb-1", NotFound)
		}},
		{"terminate ok of an id never created", func(r *Recorder) {
			terminate(r, 0, "sb-1", OK)
		}},
		{"read of a state the model does not know", func(r *Recorder) {
			create(r, 0, "sb-1")
			read(r, 1, "sb-1", "PAUSED")
		}},
		{"terminate with no outcome", func(r *Recorder) {
			create(r, 0, "sb-1")
			terminate(r, 1, "sb-1", 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder()
			tt.history(r)
			mustNotLinearize(t, r, "sb-1")
		})
	}
}

func TestCheckNamesFirstBadSandbox(t *testing.T) {
	r := NewRecorder()
	create(r, 0, "sb-good")
	create(r, 0, "sb-bad")
	create(r, 0, "sb-worse")
	read(r, 1, "sb-good", "RUNNING")
	read(r, 1, "sb-bad", "NOT_FOUND")
	read(r, 1, "sb-worse", "NOT_FOUND")

	err := mustNotLinearize(t, r, "sb-bad")
	msg := err.Error()
	if !strings.Contains(msg, "read(sb-bad) -> NOT_FOUND") || !strings.Contains(msg, "create() -> sb-bad") {
		t.Fatalf("error does not list the ops of sb-bad:\n%s", msg)
	}
	if strings.Contains(msg, "sb-good") || strings.Contains(msg, "sb-worse") {
		t.Fatalf("error lists other sandboxes:\n%s", msg)
	}
}

func TestCheckOverlappingTerminateAndReads(t *testing.T) {
	r := NewRecorder()
	create(r, 0, "sb-1")
	terminated := r.Terminate(0, "sb-1")
	read(r, 1, "sb-1", "STOPPING")
	read(r, 2, "sb-1", "STOPPING")
	read(r, 1, "sb-1", "STOPPED")
	terminated(OK)
	read(r, 2, "sb-1", "STOPPED")
	mustLinearize(t, r)
}

func TestCheckUnknownTerminate(t *testing.T) {
	tests := []struct {
		name  string
		reads []string
		ok    bool
	}{
		{"did not happen", []string{"RUNNING", "RUNNING"}, true},
		{"happened", []string{"STOPPED", "STOPPED"}, true},
		{"happened after it returned", []string{"RUNNING", "STOPPED"}, true},
		{"seen in flight", []string{"STOPPING", "STOPPED"}, true},
		{"undone", []string{"STOPPED", "RUNNING"}, false},
		{"sandbox gone", []string{"NOT_FOUND"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder()
			create(r, 0, "sb-1")
			terminate(r, 0, "sb-1", Unknown)
			for _, s := range tt.reads {
				read(r, 1, "sb-1", s)
			}
			if tt.ok {
				mustLinearize(t, r)
			} else {
				mustNotLinearize(t, r, "sb-1")
			}
		})
	}
}

func TestCheckUnknownTerminateOfAbsentID(t *testing.T) {
	r := NewRecorder()
	terminate(r, 0, "sb-1", Unknown)
	read(r, 1, "sb-1", "NOT_FOUND")
	mustLinearize(t, r)
}

func TestCheckWritesVisualisationOnFailure(t *testing.T) {
	dir := t.TempDir()

	good := NewRecorder()
	create(good, 0, "sb-1")
	read(good, 1, "sb-1", "RUNNING")
	okPath := filepath.Join(dir, "ok.html")
	if _, err := good.Check(0, okPath); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if _, err := os.Stat(okPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("visualisation written for a linearizable history (stat: %v)", err)
	}

	bad := NewRecorder()
	create(bad, 0, "sb-1")
	read(bad, 1, "sb-1", "NOT_FOUND")
	badPath := filepath.Join(dir, "bad.html")
	_, err := bad.Check(0, badPath)
	if !errors.Is(err, ErrNotLinearizable) || !strings.Contains(err.Error(), badPath) {
		t.Fatalf("Check error = %v, want ErrNotLinearizable naming %s", err, badPath)
	}
	html, rerr := os.ReadFile(badPath)
	if rerr != nil {
		t.Fatalf("reading visualisation: %v", rerr)
	}
	if !strings.Contains(string(html), "read(sb-1) -\\u003e NOT_FOUND") && !strings.Contains(string(html), "read(sb-1) -> NOT_FOUND") {
		t.Fatalf("visualisation (%d bytes) does not show the bad read", len(html))
	}

	unwritable := filepath.Join(dir, "missing", "bad.html")
	_, err = bad.Check(0, unwritable)
	if !errors.Is(err, ErrNotLinearizable) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check error = %v, want ErrNotLinearizable and the write error", err)
	}
}
