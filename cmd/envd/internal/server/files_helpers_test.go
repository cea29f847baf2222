package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// nobody is the uid and gid file tests run the user as.
const nobody = 65534

// fileEnv is a Server for file tests: its FileRoot is root, a temporary
// directory holding the user's home (WorkDir) and nothing else; outside is
// a directory next to root, out of the file root.
type fileEnv struct {
	sess                *yamux.Session
	root, home, outside string
}

// newFileEnv serves file requests with the user uid and gid 65534 (the
// test must run as root), and FileRoot a temporary directory.
func newFileEnv(t testing.TB) *fileEnv {
	t.Helper()
	return newFileEnvRoot(t, false)
}

// newFileEnvRoot is newFileEnv, with FileRoot "/" when wholeFS is set.
func newFileEnvRoot(t testing.TB, wholeFS bool) *fileEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("file tests switch to uid 65534 and need root (run them as root, as envd runs)")
	}
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	e := &fileEnv{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	e.home = filepath.Join(e.root, "home")
	runDir := filepath.Join(base, "run")
	for _, d := range []string{runDir, e.root, e.home, e.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(e.home, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cfg := Config{RunDir: runDir, WorkDir: e.home, FileRoot: e.root,
		Env: []string{"PATH=/usr/bin:/bin"}, RunAs: &Credential{UID: nobody, GID: nobody}}
	if wholeFS {
		cfg.FileRoot = ""
	}
	e.sess = newSessionWith(t, cfg)
	return e
}

// fileReply is what envd answered a FileRequest.
type fileReply struct {
	replies    []envdproto.FileReply
	data       []byte
	dataFrames int
	maxData    int                   // the largest Data payload
	frames     []envdproto.FrameType // in order
	err        *envdproto.Error
}

// info returns the Info of the reply, which must be there.
func (r fileReply) info(t testing.TB) *envdproto.FileInfo {
	t.Helper()
	if r.err != nil || len(r.replies) == 0 || r.replies[len(r.replies)-1].Info == nil {
		t.Fatalf("no Info in the reply: %+v, error %+v", r.replies, r.err)
	}
	return r.replies[len(r.replies)-1].Info
}

// fileCall sends req, and for a write upload in Data frames and an empty
// one, then collects the answer until envd closes the stream.
func fileCall(t testing.TB, sess *yamux.Session, req *envdproto.FileRequest, upload []byte) fileReply {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(time.Minute)
	_ = st.SetDeadline(deadline)
	if err := envdproto.WriteJSON(st, envdproto.FrameFileRequest, req); err != nil {
		t.Fatal(err)
	}
	if req.Op == envdproto.FileWrite {
		sendUpload(t, st, upload)
	}
	var rep fileReply
	for {
		ft, payload, err := envdproto.ReadFrame(st)
		if errors.Is(err, yamux.ErrTimeout) {
			t.Fatalf("%s %s: no end after a minute", req.Op, req.Path)
		}
		if err != nil {
			return rep
		}
		rep.frames = append(rep.frames, ft)
		switch ft {
		case envdproto.FrameData:
			rep.data = append(rep.data, payload...)
			rep.dataFrames++
			rep.maxData = max(rep.maxData, len(payload))
		case envdproto.FrameFileReply:
			var r envdproto.FileReply
			if err := envdproto.DecodeJSON(ft, payload, &r); err != nil {
				t.Fatal(err)
			}
			rep.replies = append(rep.replies, r)
		case envdproto.FrameError:
			rep.err = &envdproto.Error{}
			if err := envdproto.DecodeJSON(ft, payload, rep.err); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected %s frame", ft)
		}
	}
}

// sendUpload writes data in Data frames of at most MaxDataChunk bytes,
// then an empty one.
func sendUpload(t testing.TB, st *yamux.Stream, data []byte) {
	t.Helper()
	for len(data) > 0 {
		n := min(len(data), envdproto.MaxDataChunk)
		if err := envdproto.WriteFrame(st, envdproto.FrameData, data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := envdproto.WriteFrame(st, envdproto.FrameData, nil); err != nil {
		t.Fatal(err)
	}
}

// ok fails t unless rep has no error.
func (r fileReply) ok(t testing.TB, what string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %s: %s", what, r.err.Code, r.err.Message)
	}
}

// wantErr fails t unless rep is an error with code whose message holds
// every one of substrs.
func (r fileReply) wantErr(t testing.TB, what, code string, substrs ...string) {
	t.Helper()
	if r.err == nil {
		t.Errorf("%s: no error, want %s (replies %+v)", what, code, r.replies)
		return
	}
	if r.err.Code != code {
		t.Errorf("%s: %s %q, want %s", what, r.err.Code, r.err.Message, code)
	}
	for _, s := range substrs {
		if !strings.Contains(r.err.Message, s) {
			t.Errorf("%s: message %q does not name %q", what, r.err.Message, s)
		}
	}
}

// dirNames returns the names in dir, or fails t.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
