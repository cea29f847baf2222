package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// fileType names st's type as FileInfo.Type does; "" for a device, FIFO
// or socket, which file operations refuse.
func fileType(st *unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return envdproto.FileTypeFile
	case unix.S_IFDIR:
		return envdproto.FileTypeDir
	case unix.S_IFLNK:
		return envdproto.FileTypeSymlink
	}
	return ""
}

// errSpecial is the error for a device, FIFO or socket at path.
func errSpecial(path string) error {
	return invalidf("%s is a device, FIFO or socket", path)
}

// statInfo builds the FileInfo of the file at path (absolute, as asked)
// from st. It leaves SHA256 and LinkTarget empty.
func statInfo(path string, st *unix.Stat_t) *envdproto.FileInfo {
	return &envdproto.FileInfo{
		Name:      filepath.Base(path),
		Path:      path,
		Type:      fileType(st),
		Size:      st.Size,
		Mode:      st.Mode & 0o7777,
		ModTimeNS: st.Mtim.Nano(),
	}
}

// lstatInfo describes the file at fp itself (a symlink is not followed),
// with its SHA-256 when hash is set and it is a regular file. It refuses a
// device, FIFO or socket. It runs as the user.
func lstatInfo(fp filePath, hash bool) (*envdproto.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(fp.real, &st); err != nil {
		return nil, fsError(fp.asked, err)
	}
	info := statInfo(fp.asked, &st)
	switch info.Type {
	case "":
		return nil, errSpecial(fp.asked)
	case envdproto.FileTypeSymlink:
		target, err := os.Readlink(fp.real)
		if err != nil {
			return nil, fsError(fp.asked, err)
		}
		info.LinkTarget = target
	case envdproto.FileTypeFile:
		if hash {
			f, _, err := openRegular(fp)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			if info.SHA256, err = hashFile(f); err != nil {
				return nil, fsError(fp.asked, err)
			}
		}
	}
	return info, nil
}

// openRegular opens the regular file at fp.real for reading and returns it
// with its fstat. The last element is not followed (fp.real has its
// symlinks resolved already) and the open does not block, so a FIFO put
// in the file's place is refused, not waited on. It runs as the user.
func openRegular(fp filePath) (*os.File, *unix.Stat_t, error) {
	fd, err := unix.Open(fp.real, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fsError(fp.asked, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, fsError(fp.asked, err)
	}
	switch fileType(&st) {
	case envdproto.FileTypeFile:
		return os.NewFile(uintptr(fd), fp.real), &st, nil
	case envdproto.FileTypeDir:
		unix.Close(fd)
		return nil, nil, preconditionf("%s is a directory", fp.asked)
	}
	unix.Close(fd)
	return nil, nil, errSpecial(fp.asked)
}

// hashFile returns the hex SHA-256 of what is left to read in f.
func hashFile(f io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
