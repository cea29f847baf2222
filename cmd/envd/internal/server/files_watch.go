package server

import (
	bin "encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// watchMask is what a watch asks inotify for, on every directory it
// watches. IN_DONT_FOLLOW and IN_ONLYDIR make it refuse a symlink or a
// non-directory put in a directory's place.
const watchMask = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_DONT_FOLLOW | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// fileWatch watches the directory Path (with Recursive, the directories
// under it too, those made later included): an empty reply once the
// watches are in place, then a WatchEvent frame per change until the agent
// closes the stream. The watches are added as the user. When the watched
// directory itself is removed or renamed, envd sends that event and ends
// the stream; when the kernel's event queue overflows it ends it with a
// RESOURCE_EXHAUSTED Error, events having been lost.
func (s *Server) fileWatch(stream net.Conn, req *envdproto.FileRequest) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
		return &codedError{code: envdproto.CodeResourceExhausted, msg: "too many watches at once", err: err}
	}
	if err != nil {
		return fmt.Errorf("inotify_init1: %w", err)
	}
	// Non-blocking, so the runtime's poller reads it and a read deadline
	// ends a Read.
	f := os.NewFile(uintptr(fd), "inotify")
	defer f.Close()
	w := &watcher{s: s, fd: fd, recursive: req.Recursive, dirs: make(map[int]string)}
	err = s.asUser(func() error {
		fp, err := s.checkDir(req.Path)
		if err != nil {
			return err
		}
		w.asked, w.real = fp.asked, fp.real
		_, err = w.addTree("", false)
		return err
	})
	if err != nil {
		return err
	}
	stop := onCancel(stream, func() {
		_ = f.SetReadDeadline(time.Now())
		_ = stream.SetWriteDeadline(time.Now())
	})
	defer stop()
	if err := writeReply(stream, &envdproto.FileReply{}); err != nil {
		return err
	}
	return w.run(f, stream)
}

// watcher is the state of one watch.
type watcher struct {
	s           *Server
	fd          int    // the inotify instance
	asked, real string // the watched directory, as asked and resolved
	recursive   bool
	root        int            // the watched directory's watch descriptor
	dirs        map[int]string // watch descriptor → directory, relative to the watched one
}

// run reads inotify events from f and sends them on stream until the agent
// cancels (f's read deadline passes) or the watch ends.
func (w *watcher) run(f *os.File, stream net.Conn) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errCanceled
		}
		if err != nil {
			return fmt.Errorf("read inotify events: %w", err)
		}
		var events []envdproto.WatchEvent
		end := false
		var endErr error
		for off := 0; off+unix.SizeofInotifyEvent <= n && !end; {
			wd := int(int32(bin.NativeEndian.Uint32(buf[off:])))
			mask := bin.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(bin.NativeEndian.Uint32(buf[off+12:]))
			off += unix.SizeofInotifyEvent
			name := strings.TrimRight(string(buf[off:min(off+nameLen, n)]), "\x00")
			off += nameLen
			var evs []envdproto.WatchEvent
			evs, end, endErr = w.event(wd, mask, name)
			events = append(events, evs...)
		}
		at := time.Now().UnixNano()
		for i := range events {
			events[i].AtNS = at
			if err := envdproto.WriteJSON(stream, envdproto.FrameWatchEvent, &events[i]); err != nil {
				return fmt.Errorf("%w: %w", errCanceled, err)
			}
		}
		if end {
			return endErr
		}
	}
}

// event turns one inotify event into the WatchEvents to send, and says
// whether the watch ends (with the error to reply, if any).
func (w *watcher) event(wd int, mask uint32, name string) ([]envdproto.WatchEvent, bool, error) {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		return nil, true, &codedError{code: envdproto.CodeResourceExhausted,
			msg: fmt.Sprintf("the watch of %s lost events: too many changes at once", w.asked)}
	}
	rel, ok := w.dirs[wd]
	switch {
	case !ok:
		return nil, false, nil
	case mask&unix.IN_IGNORED != 0:
		delete(w.dirs, wd)
		return nil, wd == w.root, nil
	case name == "": // about a watched directory itself
		if wd != w.root {
			return nil, false, nil // its parent's watch reports it
		}
		ev := envdproto.WatchEvent{Type: envdproto.WatchRemove, Path: w.asked, IsDir: true}
		if mask&unix.IN_MOVE_SELF != 0 {
			ev.Type = envdproto.WatchRename
		}
		return []envdproto.WatchEvent{ev}, mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0, nil
	case strings.HasPrefix(name, uploadPrefix): // a write's temporary file
		return nil, false, nil
	}
	rel = filepath.Join(rel, name)
	ev := envdproto.WatchEvent{Path: filepath.Join(w.asked, rel), IsDir: mask&unix.IN_ISDIR != 0}
	var more []envdproto.WatchEvent
	var err error
	switch {
	case mask&unix.IN_CREATE != 0:
		ev.Type = envdproto.WatchCreate
		if ev.IsDir && w.recursive {
			// What was made in it before its watch was added is reported
			// from a scan: some of it may be reported twice.
			err = w.s.asUser(func() error {
				var aerr error
				more, aerr = w.addTree(rel, true)
				return aerr
			})
		}
	case mask&unix.IN_MOVED_TO != 0:
		ev.Type = envdproto.WatchCreate
		if ev.IsDir && w.recursive {
			err = w.s.asUser(func() error {
				_, aerr := w.addTree(rel, false)
				return aerr
			})
		}
	case mask&unix.IN_MOVED_FROM != 0:
		ev.Type = envdproto.WatchRename
		if ev.IsDir && w.recursive {
			w.forget(rel)
		}
	case mask&unix.IN_DELETE != 0:
		ev.Type = envdproto.WatchRemove
	case mask&unix.IN_MODIFY != 0:
		ev.Type = envdproto.WatchWrite
	case mask&unix.IN_ATTRIB != 0:
		ev.Type = envdproto.WatchChmod
	default:
		return nil, false, nil
	}
	return append([]envdproto.WatchEvent{ev}, more...), err != nil, err
}

// addTree adds a watch for the directory rel (relative to the watched one)
// and, when the watch is recursive, for the directories under it. With
// report it returns CREATE events for all it finds under rel. A directory
// that is gone or the user may not read is skipped, unless it is the
// watched one. It runs as the user.
func (w *watcher) addTree(rel string, report bool) ([]envdproto.WatchEvent, error) {
	path := filepath.Join(w.real, rel)
	wd, err := unix.InotifyAddWatch(w.fd, path, watchMask)
	switch {
	case errors.Is(err, unix.ENOSPC):
		return nil, &codedError{code: envdproto.CodeResourceExhausted, err: err,
			msg: fmt.Sprintf("watch %s: too many directories to watch", w.asked)}
	case err != nil && rel == "":
		return nil, fsError(w.asked, err)
	case err != nil:
		return nil, nil
	}
	if rel == "" {
		w.root = wd
	}
	w.dirs[wd] = rel
	if !w.recursive {
		return nil, nil
	}
	dirfd, err := unix.Open(path, dirOpenFlags, 0)
	if err != nil {
		return nil, nil // gone or unreadable: there is nothing to watch under it
	}
	names, err := readDirNames(dirfd)
	var types []string
	for _, name := range names {
		var st unix.Stat_t
		t := ""
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			t = fileType(&st)
		}
		types = append(types, t)
	}
	unix.Close(dirfd)
	if err != nil {
		return nil, nil
	}
	var events []envdproto.WatchEvent
	for i, name := range names {
		sub := filepath.Join(rel, name)
		if report && types[i] != "" && !strings.HasPrefix(name, uploadPrefix) {
			events = append(events, envdproto.WatchEvent{Type: envdproto.WatchCreate,
				Path: filepath.Join(w.asked, sub), IsDir: types[i] == envdproto.FileTypeDir})
		}
		if types[i] == envdproto.FileTypeDir {
			more, err := w.addTree(sub, report)
			if err != nil {
				return nil, err
			}
			events = append(events, more...)
		}
	}
	return events, nil
}

// forget removes the watches of the directory rel and those under it:
// it was moved away, and may be out of the watched tree.
func (w *watcher) forget(rel string) {
	for wd, dir := range w.dirs {
		if dir == rel || strings.HasPrefix(dir, rel+"/") {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.dirs, wd)
		}
	}
}
