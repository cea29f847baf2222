package server

import (
	"errors"
	"fmt"
	"net"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// errCanceled ends a file operation whose agent closed or reset the stream:
// envd sends nothing more.
var errCanceled = errors.New("the agent closed the stream")

// fsError turns err, from a file-system call on path (as the agent asked
// for it), into the codedError the agent gets. It is the one place errnos
// are mapped to error codes. An error that is already a codedError is
// returned as is, and nil as nil.
func fsError(path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *codedError
	if errors.As(err, &fe) {
		return fe
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return &codedError{code: envdproto.CodeInternal, msg: fmt.Sprintf("%s: %v", path, err), err: err}
	}
	code, msg := envdproto.CodeInternal, fmt.Sprintf("%s: %v", path, errno)
	switch errno {
	case unix.ENOENT:
		code = envdproto.CodeNotFound
	case unix.EEXIST:
		code, msg = envdproto.CodeAlreadyExists, path+" already exists"
	case unix.ENOTEMPTY, unix.ENOTDIR, unix.EXDEV, unix.EBUSY, unix.ETXTBSY:
		code = envdproto.CodeFailedPrecondition
	case unix.EISDIR:
		code, msg = envdproto.CodeFailedPrecondition, path+" is a directory"
	case unix.EROFS:
		code, msg = envdproto.CodeFailedPrecondition, path+" is on a read-only file system"
	case unix.EACCES, unix.EPERM:
		code, msg = envdproto.CodeFailedPrecondition, path+": permission denied"
	case unix.ENOSPC, unix.EDQUOT, unix.EFBIG:
		code = envdproto.CodeResourceExhausted
	case unix.EINVAL, unix.ELOOP, unix.ENAMETOOLONG:
		code = envdproto.CodeInvalidArgument
	}
	return &codedError{code: code, msg: msg, err: err}
}

// fileRequest serves one FileRequest on stream. The operations (files_*.go)
// do their file-system calls as the user (asUser), on paths checked by
// s.checkPath.
func (s *Server) fileRequest(stream net.Conn, req *envdproto.FileRequest) {
	var err error
	switch req.Op {
	case envdproto.FileRead:
		err = s.fileRead(stream, req)
	case envdproto.FileWrite:
		err = s.fileWrite(stream, req)
	case envdproto.FileStat:
		err = s.fileStat(stream, req)
	case envdproto.FileExists:
		err = s.fileExists(stream, req)
	case envdproto.FileList:
		err = s.fileList(stream, req)
	case envdproto.FileMkdir:
		err = s.fileMkdir(stream, req)
	case envdproto.FileRemove:
		err = s.fileRemove(stream, req)
	case envdproto.FileRename:
		err = s.fileRename(stream, req)
	case envdproto.FileWatch:
		err = s.fileWatch(stream, req)
	default:
		err = invalidf("unknown file operation %q", req.Op)
	}
	s.replyError(stream, err, "file operation", "op", req.Op, "path", req.Path)
}

// fileMode returns a request's Mode, or def when it is 0.
func fileMode(mode, def uint32) (uint32, error) {
	switch {
	case mode == 0:
		return def, nil
	case mode&^0o7777 != 0:
		return 0, invalidf("mode %#o has more than permission bits", mode)
	}
	return mode, nil
}

// writeReply writes a FileReply frame.
func writeReply(stream net.Conn, rep *envdproto.FileReply) error {
	if err := envdproto.WriteJSON(stream, envdproto.FrameFileReply, rep); err != nil {
		return fmt.Errorf("%w: %w", errCanceled, err)
	}
	return nil
}
