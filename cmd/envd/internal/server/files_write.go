package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"os"
	"path/filepath"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// uploadPrefix starts the names of write's temporary files (a watch does
// not report them).
const uploadPrefix = ".codeint-upload-"

// fileWrite receives a file: the Data frames after the request, up to an
// empty one, go to a temporary file next to Path, renamed over Path once
// complete. The reply's Info has the SHA-256 of the bytes received. On a
// failure nothing is left behind (neither the temporary file nor the
// parent directories made for it); envd replies Error at once and then
// takes in, and drops, the rest of the upload, so an agent that sends it
// all before reading is not stuck.
func (s *Server) fileWrite(stream net.Conn, req *envdproto.FileRequest) error {
	up := &upload{stream: stream}
	var info *envdproto.FileInfo
	err := s.asUser(func() error {
		mode, err := fileMode(req.Mode, 0o644)
		if err != nil {
			return err
		}
		fp, err := s.checkPath(req.Path, true)
		if err != nil {
			return err
		}
		info, err = up.receive(fp, mode)
		return err
	})
	if err == nil {
		return writeReply(stream, &envdproto.FileReply{Info: info})
	}
	if !errors.Is(err, errCanceled) {
		s.replyError(stream, err, "file operation", "op", req.Op, "path", req.Path)
		up.drain()
	}
	return nil
}

// upload is the Data frames of a write, read from stream.
type upload struct {
	stream net.Conn
	// ended is set once the empty Data frame is in, or once the stream can
	// no longer be read frame by frame.
	ended bool
}

// receive writes the upload to fp with permission bits mode and returns
// the new file's Info. It runs as the user: the kernel checks the user's
// access, and the user's disk quota (not a reserve of root's) pays for the
// bytes.
func (up *upload) receive(fp filePath, mode uint32) (*envdproto.FileInfo, error) {
	var st unix.Stat_t
	switch err := unix.Lstat(fp.real, &st); {
	case err == nil && fileType(&st) == envdproto.FileTypeDir:
		return nil, preconditionf("%s is a directory", fp.asked)
	case err == nil && fileType(&st) == "":
		return nil, errSpecial(fp.asked)
	case err != nil && !errors.Is(err, unix.ENOENT):
		return nil, fsError(fp.asked, err)
	}
	dir := filepath.Dir(fp.real)
	made, err := mkdirs(dir, 0o755)
	if err != nil {
		return nil, fsError(fp.asked, err)
	}
	f, err := createTemp(dir)
	if err != nil {
		removeDirs(made)
		return nil, fsError(fp.asked, err)
	}
	h := sha256.New()
	st, err = up.copyTo(f, h, fp.asked, mode)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fsError(fp.asked, cerr)
	}
	if err == nil {
		if rerr := unix.Rename(f.Name(), fp.real); rerr != nil {
			err = fsError(fp.asked, rerr)
		}
	}
	if err != nil {
		_ = unix.Unlink(f.Name())
		removeDirs(made)
		return nil, err
	}
	info := statInfo(fp.asked, &st)
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	return info, nil
}

// copyTo copies the Data frames, up to the empty one, to f and h, sets f's
// permission bits to mode and returns its fstat.
func (up *upload) copyTo(f *os.File, h hash.Hash, asked string, mode uint32) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		data, err := up.next()
		if errors.Is(err, errCanceled) {
			return st, err
		}
		if err != nil {
			return st, invalidf("upload to %s: %v", asked, err)
		}
		if data == nil {
			break
		}
		if _, err := f.Write(data); err != nil {
			return st, fsError(asked, err)
		}
		h.Write(data)
	}
	fd := int(f.Fd())
	if err := unix.Fchmod(fd, mode); err != nil {
		return st, fsError(asked, err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return st, fsError(asked, err)
	}
	return st, nil
}

// next returns the next Data frame's bytes, nil at the empty one. It
// returns errCanceled when the agent closed or reset the stream.
func (up *upload) next() ([]byte, error) {
	typ, payload, err := envdproto.ReadFrame(up.stream)
	switch {
	case errors.Is(err, envdproto.ErrFrameTooLarge):
		up.ended = true // its payload was not read: the frames are lost
		return nil, err
	case err != nil:
		up.ended = true
		return nil, fmt.Errorf("%w: %w", errCanceled, err)
	case typ != envdproto.FrameData:
		up.ended = true
		return nil, fmt.Errorf("unexpected %s frame", typ)
	case len(payload) == 0:
		up.ended = true
		return nil, nil
	}
	return payload, nil
}

// drain reads and drops the rest of an upload envd failed, so that an
// agent sending it all before it reads the reply is not stuck: up to the
// empty Data frame, or until the agent closes the stream.
func (up *upload) drain() {
	for !up.ended {
		_, _ = up.next()
	}
}

// createTemp creates an empty file of mode 0600 with an unpredictable name
// in dir.
func createTemp(dir string) (*os.File, error) {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	name := filepath.Join(dir, uploadPrefix+hex.EncodeToString(nonce[:]))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create a temporary file: %w", err)
	}
	return f, nil
}

// mkdirs makes dir and its missing parents with permission bits perm (less
// the umask) and returns the directories it made, outermost first. An
// existing element that is not a directory (a symlink included: dir has its
// symlinks resolved) fails it with ENOTDIR. On an error it removes what it
// made.
func mkdirs(dir string, perm uint32) ([]string, error) {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		if err == nil {
			if fileType(&st) != envdproto.FileTypeDir {
				return nil, fmt.Errorf("%s: %w", p, unix.ENOTDIR)
			}
			break
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		missing = append(missing, p)
	}
	made := make([]string, 0, len(missing))
	for i := len(missing) - 1; i >= 0; i-- {
		err := unix.Mkdir(missing[i], perm)
		if errors.Is(err, unix.EEXIST) { // made meanwhile by someone else
			var st unix.Stat_t
			if err = unix.Lstat(missing[i], &st); err == nil && fileType(&st) != envdproto.FileTypeDir {
				err = unix.ENOTDIR
			}
			if err == nil {
				continue
			}
		}
		if err != nil {
			removeDirs(made)
			return nil, fmt.Errorf("mkdir %s: %w", missing[i], err)
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// removeDirs removes the directories mkdirs made, innermost first, as far
// as they are empty.
func removeDirs(made []string) {
	for i := len(made) - 1; i >= 0; i-- {
		_ = unix.Rmdir(made[i])
	}
}
