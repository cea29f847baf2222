package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// watchStream is a watch in progress, as the agent sees it.
type watchStream struct {
	st     *yamux.Stream
	events chan envdproto.WatchEvent // closed when envd ends the stream
	seen   []envdproto.WatchEvent    // all events taken from events so far
	err    chan *envdproto.Error     // an Error frame that ended the stream
}

// startWatch sends a watch request and waits for its empty reply.
func startWatch(t *testing.T, sess *yamux.Session, req *envdproto.FileRequest) *watchStream {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := envdproto.WriteJSON(st, envdproto.FrameFileRequest, req); err != nil {
		t.Fatal(err)
	}
	ft, payload, err := envdproto.ReadFrame(st)
	if err != nil || ft != envdproto.FrameFileReply {
		t.Fatalf("watch reply: %s %s %v", ft, payload, err)
	}
	w := &watchStream{st: st, events: make(chan envdproto.WatchEvent, 1024), err: make(chan *envdproto.Error, 1)}
	go func() {
		defer close(w.events)
		for {
			ft, payload, err := envdproto.ReadFrame(st)
			if err != nil {
				return
			}
			switch ft {
			case envdproto.FrameWatchEvent:
				var ev envdproto.WatchEvent
				if envdproto.DecodeJSON(ft, payload, &ev) == nil {
					w.events <- ev
				}
			case envdproto.FrameError:
				var e envdproto.Error
				_ = envdproto.DecodeJSON(ft, payload, &e)
				w.err <- &e
			}
		}
	}()
	return w
}

// expect waits for an event of typ on path.
func (w *watchStream) expect(t *testing.T, typ, path string, isDir bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				t.Fatalf("the watch ended before %s %s; seen %+v", typ, path, w.seen)
			}
			w.seen = append(w.seen, ev)
			if ev.Type == typ && ev.Path == path {
				if ev.IsDir != isDir || ev.AtNS == 0 {
					t.Fatalf("event %+v", ev)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no %s %s; seen %+v", typ, path, w.seen)
		}
	}
}

// expectEnd waits for envd to end the watch.
func (w *watchStream) expectEnd(t *testing.T) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return
			}
			w.seen = append(w.seen, ev)
		case <-timeout:
			t.Fatalf("the watch did not end; seen %+v", w.seen)
		}
	}
}

// inotifyFDs counts the process's inotify descriptors.
func inotifyFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

func TestFileWatch(t *testing.T) {
	e := newFileEnv(t)
	home := func(p string) string { return filepath.Join(e.home, p) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	before := inotifyFDs(t)
	w := startWatch(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWatch, Path: ".", Recursive: true})
	if n := inotifyFDs(t); n != before+1 {
		t.Fatalf("%d inotify descriptors during the watch, %d before", n, before)
	}

	must(os.WriteFile(home("w.txt"), []byte("x"), 0o644))
	w.expect(t, envdproto.WatchCreate, home("w.txt"), false)
	w.expect(t, envdproto.WatchWrite, home("w.txt"), false)
	must(os.Chmod(home("w.txt"), 0o600))
	w.expect(t, envdproto.WatchChmod, home("w.txt"), false)
	must(os.Rename(home("w.txt"), home("v.txt")))
	w.expect(t, envdproto.WatchRename, home("w.txt"), false)
	w.expect(t, envdproto.WatchCreate, home("v.txt"), false)
	must(os.Remove(home("v.txt")))
	w.expect(t, envdproto.WatchRemove, home("v.txt"), false)

	// A new subdirectory is watched once envd reports it...
	must(os.Mkdir(home("sub"), 0o755))
	w.expect(t, envdproto.WatchCreate, home("sub"), true)
	must(os.WriteFile(home("sub/in.txt"), []byte("x"), 0o644))
	w.expect(t, envdproto.WatchCreate, home("sub/in.txt"), false)
	w.expect(t, envdproto.WatchWrite, home("sub/in.txt"), false)
	must(os.Rename(home("sub/in.txt"), home("sub/out.txt")))
	w.expect(t, envdproto.WatchRename, home("sub/in.txt"), false)
	w.expect(t, envdproto.WatchCreate, home("sub/out.txt"), false)
	// ... and what is made in one at once is reported too.
	must(os.MkdirAll(home("deep/er"), 0o755))
	must(os.WriteFile(home("deep/er/f.txt"), []byte("x"), 0o644))
	w.expect(t, envdproto.WatchCreate, home("deep/er/f.txt"), false)
	// A directory moved within the tree is watched under its new name.
	must(os.Rename(home("deep"), home("moved")))
	w.expect(t, envdproto.WatchRename, home("deep"), true)
	w.expect(t, envdproto.WatchCreate, home("moved"), true)
	must(os.Remove(home("moved/er/f.txt")))
	w.expect(t, envdproto.WatchRemove, home("moved/er/f.txt"), false)

	// An upload shows as its file only, not its temporary file.
	must(os.Chown(home("sub"), nobody, nobody))
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "sub/up.txt"}, []byte("data")).ok(t, "write")
	w.expect(t, envdproto.WatchCreate, home("sub/up.txt"), false)
	for _, ev := range w.seen {
		if strings.Contains(ev.Path, uploadPrefix) {
			t.Fatalf("a temporary file was reported: %+v", ev)
		}
	}

	// The agent closing the stream ends the watch and frees the descriptor.
	w.st.Close()
	w.expectEnd(t)
	for i := 0; inotifyFDs(t) != before; i++ {
		if i == 100 {
			t.Fatalf("%d inotify descriptors after the watch, %d before", inotifyFDs(t), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFileWatchNotRecursive(t *testing.T) {
	e := newFileEnv(t)
	home := func(p string) string { return filepath.Join(e.home, p) }
	if err := os.MkdirAll(home("d/old"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWatch, Path: home("d")})
	if err := os.WriteFile(home("d/old/x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home("d/marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w.expect(t, envdproto.WatchCreate, home("d/marker"), false)
	for _, ev := range w.seen {
		if strings.HasPrefix(ev.Path, home("d/old/")) {
			t.Fatalf("a non-recursive watch reported %+v", ev)
		}
	}
	// Removing the watched directory reports it and ends the watch.
	if err := os.RemoveAll(home("d")); err != nil {
		t.Fatal(err)
	}
	w.expect(t, envdproto.WatchRemove, home("d"), true)
	w.expectEnd(t)

	for _, req := range []*envdproto.FileRequest{
		{Op: envdproto.FileWatch, Path: "none"},
		{Op: envdproto.FileWatch, Path: "d"},
	} {
		fileCall(t, e.sess, req, nil).wantErr(t, "watch of a missing dir", envdproto.CodeNotFound, home(req.Path))
	}
	if err := os.WriteFile(home("file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWatch, Path: "file"}, nil).wantErr(t,
		"watch of a file", envdproto.CodeFailedPrecondition, home("file"))
}

// TestFileWatchAsUser checks that watches are added with the user's
// access: a directory the user may not read cannot be watched.
func TestFileWatchAsUser(t *testing.T) {
	e := newFileEnv(t)
	closed := filepath.Join(e.root, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil { // root's
		t.Fatal(err)
	}
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWatch, Path: closed}, nil).wantErr(t,
		"watch of root's 0700 dir", envdproto.CodeFailedPrecondition, closed, "permission denied")
}
