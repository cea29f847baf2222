package server

import (
	"errors"
	"net"
	"os"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// fileStat replies the Info of Path itself (a symlink is not followed).
func (s *Server) fileStat(stream net.Conn, req *envdproto.FileRequest) error {
	var info *envdproto.FileInfo
	err := s.asUser(func() error {
		fp, err := s.checkPath(req.Path, false)
		if err != nil {
			return err
		}
		info, err = lstatInfo(fp, req.Hash)
		return err
	})
	if err != nil {
		return err
	}
	return writeReply(stream, &envdproto.FileReply{Info: info})
}

// fileExists replies whether Path itself exists (a dangling symlink does).
// A missing path is no error; a path the rules refuse, or one the user may
// not look up, is.
func (s *Server) fileExists(stream net.Conn, req *envdproto.FileRequest) error {
	var exists bool
	err := s.asUser(func() error {
		fp, err := s.checkPath(req.Path, false)
		if err == nil {
			var st unix.Stat_t
			err = fsError(fp.asked, unix.Lstat(fp.real, &st))
		}
		switch {
		case err == nil:
			exists = true
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeReply(stream, &envdproto.FileReply{Exists: exists})
}

// fileMkdir makes the directory Path and its missing parents (0755), Path
// itself with Mode (0755 when 0). An existing directory is fine; anything
// else there is ALREADY_EXISTS.
func (s *Server) fileMkdir(stream net.Conn, req *envdproto.FileRequest) error {
	var info *envdproto.FileInfo
	err := s.asUser(func() error {
		mode, err := fileMode(req.Mode, 0o755)
		if err != nil {
			return err
		}
		fp, err := s.checkPath(req.Path, true)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		switch err := unix.Lstat(fp.real, &st); {
		case err == nil && fileType(&st) != envdproto.FileTypeDir:
			return &codedError{code: envdproto.CodeAlreadyExists, msg: fp.asked + " already exists and is not a directory"}
		case err != nil && !errors.Is(err, unix.ENOENT):
			return fsError(fp.asked, err)
		case err != nil:
			made, err := mkdirs(fp.real, 0o755)
			if err != nil {
				return fsError(fp.asked, err)
			}
			if len(made) > 0 && made[len(made)-1] == fp.real {
				if err := unix.Chmod(fp.real, mode); err != nil {
					return fsError(fp.asked, err)
				}
			}
		}
		info, err = lstatInfo(fp, false)
		return err
	})
	if err != nil {
		return err
	}
	return writeReply(stream, &envdproto.FileReply{Info: info})
}

// fileRemove removes Path itself: a file, a symlink, or a directory and
// all it holds. It refuses the file root, the user's home and what holds
// them.
func (s *Server) fileRemove(stream net.Conn, req *envdproto.FileRequest) error {
	err := s.asUser(func() error {
		fp, err := s.checkPath(req.Path, false)
		if err != nil {
			return err
		}
		if err := s.refuseProtected("remove", fp); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(fp.real, &st); err != nil {
			return fsError(fp.asked, err)
		}
		if fileType(&st) == envdproto.FileTypeDir {
			err = os.RemoveAll(fp.real)
		} else {
			err = unix.Unlink(fp.real)
		}
		if err != nil {
			return fsError(fp.asked, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeReply(stream, &envdproto.FileReply{})
}

// fileRename renames Path itself to NewPath (which is replaced if it
// exists, as rename(2) does) and replies NewPath's Info.
func (s *Server) fileRename(stream net.Conn, req *envdproto.FileRequest) error {
	var info *envdproto.FileInfo
	err := s.asUser(func() error {
		from, err := s.checkPath(req.Path, false)
		if err != nil {
			return err
		}
		to, err := s.checkPath(req.NewPath, false)
		if err != nil {
			return err
		}
		if err := s.refuseProtected("rename", from); err != nil {
			return err
		}
		if err := s.refuseProtected("replace", to); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(from.real, &st); err != nil {
			return fsError(from.asked, err)
		}
		if fileType(&st) == "" {
			return errSpecial(from.asked)
		}
		if err := unix.Rename(from.real, to.real); err != nil {
			return fsError(from.asked+" → "+to.asked, err)
		}
		info, err = lstatInfo(to, false)
		return err
	})
	if err != nil {
		return err
	}
	return writeReply(stream, &envdproto.FileReply{Info: info})
}

// refuseProtected fails op on fp when fp is the file root, the user's home
// or holds one of them.
func (s *Server) refuseProtected(op string, fp filePath) error {
	p, err := s.protected(fp.real)
	if err != nil {
		return err
	}
	if p {
		return invalidf("cannot %s %s: it is or holds the sandbox's file root or the user's home", op, fp.asked)
	}
	return nil
}
