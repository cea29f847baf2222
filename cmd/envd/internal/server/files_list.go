package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// maxListEntries bounds a listing: more entries than this would not fit in
// one reply frame (envdproto.MaxFrameSize) anyway.
const maxListEntries = envdproto.MaxFrameSize / 64

// dirOpenFlags open a directory without following a symlink in its place.
const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC

// fileList replies the entries of the directory Path (a symlink to one is
// followed), Depth levels deep, sorted by path. Symlinks below Path are
// listed, not followed; devices, FIFOs and sockets are left out, and so is
// what lies in a directory the user may not read. The walk goes from
// directory descriptor to directory descriptor (openat), so a directory
// swapped for a symlink meanwhile is not followed either.
func (s *Server) fileList(stream net.Conn, req *envdproto.FileRequest) error {
	if req.Depth < 0 {
		return invalidf("negative depth %d", req.Depth)
	}
	l := lister{depth: max(req.Depth, 1), hash: req.Hash}
	err := s.asUser(func() error {
		fp, err := s.checkDir(req.Path)
		if err != nil {
			return err
		}
		fd, err := unix.Open(fp.real, dirOpenFlags, 0)
		if err != nil {
			return fsError(fp.asked, err)
		}
		l.root = fp.asked
		return l.walk(fd, fp.asked, 1)
	})
	if err != nil {
		return err
	}
	slices.SortFunc(l.entries, func(a, b envdproto.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	payload, err := json.Marshal(&envdproto.FileReply{Entries: l.entries})
	if err != nil {
		return fmt.Errorf("encode the listing: %w", err)
	}
	if len(payload) > envdproto.MaxFrameSize {
		return l.tooLarge()
	}
	if err := envdproto.WriteFrame(stream, envdproto.FrameFileReply, payload); err != nil {
		return fmt.Errorf("%w: %w", errCanceled, err)
	}
	return nil
}

// lister walks a directory for fileList.
type lister struct {
	root    string // the listed directory, as asked
	depth   int    // levels to list, at least 1
	hash    bool
	entries []envdproto.FileInfo
}

// tooLarge is the error for a listing that does not fit in a reply.
func (l *lister) tooLarge() error {
	return &codedError{code: envdproto.CodeResourceExhausted,
		msg: fmt.Sprintf("the listing of %s does not fit in a reply: ask for less depth", l.root)}
}

// walk lists the directory open as dirfd, whose path (as asked) is dir, at
// level (1 for the listed directory's entries). It closes dirfd. It runs
// as the user.
func (l *lister) walk(dirfd int, dir string, level int) error {
	defer unix.Close(dirfd)
	names, err := readDirNames(dirfd)
	if err != nil {
		return fsError(dir, err)
	}
	for _, name := range names {
		path := filepath.Join(dir, name)
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) { // removed meanwhile
				continue
			}
			return fsError(path, err)
		}
		info := statInfo(path, &st)
		switch info.Type {
		case "":
			continue
		case envdproto.FileTypeSymlink:
			if info.LinkTarget, err = readlinkat(dirfd, name); err != nil {
				return fsError(path, err)
			}
		case envdproto.FileTypeFile:
			if l.hash {
				if info.SHA256, err = hashAt(dirfd, name); err != nil {
					return fsError(path, err)
				}
			}
		case envdproto.FileTypeDir:
			if level < l.depth {
				sub, err := unix.Openat(dirfd, name, dirOpenFlags, 0)
				switch {
				case err == nil:
					if err := l.walk(sub, path, level+1); err != nil {
						return err
					}
				case !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.ENOENT):
					return fsError(path, err)
				}
			}
		}
		if len(l.entries) >= maxListEntries {
			return l.tooLarge()
		}
		l.entries = append(l.entries, *info)
	}
	return nil
}

// readDirNames returns the names in the directory open as fd, "." and ".."
// left out.
func readDirNames(fd int) ([]string, error) {
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("read directory: %w", err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// readlinkat returns the target of the symlink name in the directory open
// as dirfd.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", fmt.Errorf("readlink: %w", err)
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// hashAt returns the SHA-256 of the regular file name in the directory
// open as dirfd, or "" when the user may not read it.
func hashAt(dirfd int, name string) (string, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("open: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("fstat: %w", err)
	}
	if fileType(&st) != envdproto.FileTypeFile { // swapped meanwhile
		return "", nil
	}
	return hashFile(f)
}
