package server

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// filePath is a request's path, checked.
type filePath struct {
	// asked is the path as the agent asked for it, made absolute (relative
	// to Config.WorkDir) and cleaned: FileInfo.Path and error messages
	// use it.
	asked string
	// real is asked with its symlinks resolved (its last element only when
	// followed): the path envd hands to the kernel. Elements that do not
	// exist yet are kept as asked.
	real string
}

// askedPath applies the syntactic rules to a request's path p: not empty,
// no NUL, no ".." element; relative to Config.WorkDir unless absolute. It
// returns p absolute and cleaned.
func (s *Server) askedPath(p string) (string, error) {
	switch {
	case p == "":
		return "", invalidf("empty path")
	case strings.ContainsRune(p, 0):
		return "", invalidf("path %q contains a NUL byte", p)
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." {
			return "", invalidf("path %q has a \"..\" element", p)
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.cfg.WorkDir, p)
	}
	return filepath.Clean(p), nil
}

// fileRoot returns Config.FileRoot ("/" when empty) with its symlinks
// resolved.
func (s *Server) fileRoot() (string, error) {
	root := s.cfg.FileRoot
	if root == "" {
		root = "/"
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve the file root: %w", err)
	}
	return real, nil
}

// checkPath applies the path rules to p (see askedPath) and resolves it:
// followLast says whether a symlink as p's last element is followed (read,
// write, list, mkdir, watch) or is itself the file meant (stat, exists,
// remove, rename). The resolved path must stay under Config.FileRoot and
// out of /proc, /sys and /dev. It must run as the user (asUser): symlinks
// are resolved with the user's access.
//
// The check and the operation that follows are two steps: a user racing
// to swap a directory for a symlink in between could still lead one
// operation astray, though only to what the user may access anyway (every
// operation runs as the user); opens use O_NOFOLLOW and O_NONBLOCK, and a
// listing walks by directory descriptors.
func (s *Server) checkPath(p string, followLast bool) (filePath, error) {
	asked, err := s.askedPath(p)
	if err != nil {
		return filePath{}, err
	}
	root, err := s.fileRoot()
	if err != nil {
		return filePath{}, err
	}
	var real string
	if followLast || asked == "/" {
		real, err = resolveExisting(asked)
	} else {
		real, err = resolveExisting(filepath.Dir(asked))
		real = filepath.Join(real, filepath.Base(asked))
	}
	if err != nil {
		return filePath{}, fsError(asked, err)
	}
	if !under(real, root) || underPseudo(real) {
		return filePath{}, invalidf("%s resolves outside the sandbox's files", asked)
	}
	return filePath{asked: asked, real: real}, nil
}

// resolveExisting resolves the symlinks of p's deepest existing ancestor
// (p itself when it exists) and appends the rest of p as it is.
func resolveExisting(p string) (string, error) {
	rest := ""
	for cur := p; ; {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		parent := filepath.Dir(cur)
		if !errors.Is(err, fs.ErrNotExist) || parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// under says whether p is dir or inside it; both are clean and absolute.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// underPseudo says whether p is in /proc, /sys or /dev: pseudo-filesystems
// that show the kernel and envd itself, which no file operation reaches.
func underPseudo(p string) bool {
	for _, d := range [...]string{"/proc", "/sys", "/dev"} {
		if under(p, d) {
			return true
		}
	}
	return false
}

// protected says whether removing or renaming p (a real path) would take
// away the file root or the user's home: p is one of them or holds one.
func (s *Server) protected(p string) (bool, error) {
	root, err := s.fileRoot()
	if err != nil {
		return false, err
	}
	home, err := filepath.EvalSymlinks(s.cfg.WorkDir)
	if err != nil {
		home = filepath.Clean(s.cfg.WorkDir)
	}
	return under(root, p) || under(home, p), nil
}

// checkDir is checkPath for a path that must be a directory: a file or a
// symlink to one is FAILED_PRECONDITION, a device, FIFO or socket
// INVALID_ARGUMENT. Call it as the user.
func (s *Server) checkDir(p string) (filePath, error) {
	fp, err := s.checkPath(p, true)
	if err != nil {
		return filePath{}, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(fp.real, &st); err != nil {
		return filePath{}, fsError(fp.asked, err)
	}
	switch fileType(&st) {
	case envdproto.FileTypeDir:
		return fp, nil
	case "":
		return filePath{}, errSpecial(fp.asked)
	}
	return filePath{}, preconditionf("%s is not a directory", fp.asked)
}
