package sandboxes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// FilesAPI reads and writes the files of a team's sandboxes. Every
// operation runs inside the sandbox, through envd, as the sandbox's user:
// no path reaches the host. Paths are absolute or relative to the user's
// home; ".." elements, symlinks that leave the sandbox's files and device
// files are INVALID_ARGUMENT.
type FilesAPI interface {
	// WriteFile writes content to path whole (replacing a file there,
	// making missing parents); nothing is left behind when it fails.
	WriteFile(ctx context.Context, teamID, sandboxID, path string, content io.Reader) (*FileInfo, error)
	// OpenFile starts reading a file; the caller closes the reader.
	OpenFile(ctx context.Context, teamID, sandboxID, path string) (FileStream, error)
	Stat(ctx context.Context, teamID, sandboxID, path string, hash bool) (*FileInfo, error)
	Exists(ctx context.Context, teamID, sandboxID, path string) (bool, error)
	ListFiles(ctx context.Context, teamID, sandboxID, path string, depth int, hash bool) ([]FileInfo, error)
	MakeDir(ctx context.Context, teamID, sandboxID, path string) (*FileInfo, error)
	RemoveFile(ctx context.Context, teamID, sandboxID, path string) error
	RenameFile(ctx context.Context, teamID, sandboxID, path, newPath string) (*FileInfo, error)
	// WatchDir streams changes under a directory until ctx ends; the
	// channel is then closed.
	WatchDir(ctx context.Context, teamID, sandboxID, path string, recursive bool) (<-chan FileEvent, error)
}

var _ FilesAPI = (*Service)(nil)

// FileInfo describes a file in a sandbox.
type FileInfo struct {
	Name, Path string
	Type       string // envdproto.FileType*
	Size       int64
	Mode       uint32
	ModTime    time.Time
	SHA256     string // hex; empty when not computed
	LinkTarget string
}

// FileEvent is a change under a watched directory.
type FileEvent struct {
	Type  string // envdproto.Watch*
	Path  string
	IsDir bool
	At    time.Time
}

// maxListDepth bounds ListFiles' depth.
const maxListDepth = 32

func toFileInfo(in *envdproto.FileInfo) *FileInfo {
	if in == nil {
		return nil
	}
	return &FileInfo{Name: in.Name, Path: in.Path, Type: in.Type, Size: in.Size, Mode: in.Mode,
		ModTime: time.Unix(0, in.ModTimeNS).UTC(), SHA256: in.SHA256, LinkTarget: in.LinkTarget}
}

func checkPath(path string) error {
	if path == "" {
		return invalid("path is empty")
	}
	return nil
}

// fileCall sends one file request and reads its one reply.
func (s *Service) fileCall(ctx context.Context, teamID, sandboxID string, req *envdproto.FileRequest) (*envdproto.FileReply, error) {
	if err := checkPath(req.Path); err != nil {
		return nil, err
	}
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var rep envdproto.FileReply
	if err := envdclient.Call(ctx, stream, envdproto.FrameFileRequest, req, envdproto.FrameFileReply, &rep); err != nil {
		return nil, s.envdError(ctx, sb.ID, err)
	}
	return &rep, nil
}

// Stat describes what is at path.
func (s *Service) Stat(ctx context.Context, teamID, sandboxID, path string, hash bool) (*FileInfo, error) {
	rep, err := s.fileCall(ctx, teamID, sandboxID, &envdproto.FileRequest{Op: envdproto.FileStat, Path: path, Hash: hash})
	if err != nil {
		return nil, err
	}
	return toFileInfo(rep.Info), nil
}

// Exists says whether anything is at path.
func (s *Service) Exists(ctx context.Context, teamID, sandboxID, path string) (bool, error) {
	rep, err := s.fileCall(ctx, teamID, sandboxID, &envdproto.FileRequest{Op: envdproto.FileExists, Path: path})
	if err != nil {
		return false, err
	}
	return rep.Exists, nil
}

// ListFiles lists a directory depth levels deep (1 when depth is 0).
func (s *Service) ListFiles(ctx context.Context, teamID, sandboxID, path string, depth int, hash bool) ([]FileInfo, error) {
	if depth < 0 || depth > maxListDepth {
		return nil, invalid("depth must be between 1 and %d, got %d", maxListDepth, depth)
	}
	rep, err := s.fileCall(ctx, teamID, sandboxID, &envdproto.FileRequest{Op: envdproto.FileList, Path: path, Depth: depth, Hash: hash})
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(rep.Entries))
	for i := range rep.Entries {
		out = append(out, *toFileInfo(&rep.Entries[i]))
	}
	return out, nil
}

// MakeDir makes a directory and its missing parents.
func (s *Service) MakeDir(ctx context.Context, teamID, sandboxID, path string) (*FileInfo, error) {
	rep, err := s.fileCall(ctx, teamID, sandboxID, &envdproto.FileRequest{Op: envdproto.FileMkdir, Path: path})
	if err != nil {
		return nil, err
	}
	return toFileInfo(rep.Info), nil
}

// RemoveFile removes a file or a directory with all it holds.
func (s *Service) RemoveFile(ctx context.Context, teamID, sandboxID, path string) error {
	_, err := s.fileCall(ctx, teamID, sandboxID, &envdproto.FileRequest{Op: envdproto.FileRemove, Path: path})
	return err
}

// RenameFile moves path to newPath.
func (s *Service) RenameFile(ctx context.Context, teamID, sandboxID, path, newPath string) (*FileInfo, error) {
	if err := checkPath(newPath); err != nil {
		return nil, err
	}
	rep, err := s.fileCall(ctx, teamID, sandboxID, &envdproto.FileRequest{Op: envdproto.FileRename, Path: path, NewPath: newPath})
	if err != nil {
		return nil, err
	}
	return toFileInfo(rep.Info), nil
}

// WriteFile streams content into path. An error reading content cancels
// the write in envd, which then leaves nothing behind.
func (s *Service) WriteFile(ctx context.Context, teamID, sandboxID, path string, content io.Reader) (*FileInfo, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	stop, err := envdclient.Request(ctx, stream, envdproto.FrameFileRequest, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: path})
	if err != nil {
		return nil, s.envdError(ctx, sb.ID, err)
	}
	defer stop()
	// envd may refuse before the data (a bad path): its answer then
	// comes while we send, and sending fails once it closes.
	replied := make(chan error, 1)
	answered := make(chan struct{}) // closed once envd's answer is in
	var rep envdproto.FileReply
	go func() {
		replied <- envdclient.ReadReply(stream, envdproto.FrameFileReply, &rep)
		close(answered)
	}()
	sendErr := sendData(stream, content, answered)
	if sendErr != nil && !errors.Is(sendErr, errEnvdStream) {
		stream.Close() // cancel: envd removes what it wrote
		<-replied
		return nil, fmt.Errorf("write %s in %s: %w", path, sb.ID, sendErr)
	}
	if err := <-replied; err != nil {
		return nil, s.envdError(ctx, sb.ID, err)
	}
	return toFileInfo(rep.Info), nil
}

// errEnvdStream marks a failure writing to envd's stream (as opposed to
// reading the caller's content).
var errEnvdStream = errors.New("envd stream closed")

// sendData copies r to stream as Data frames, then the empty one. It
// stops early, as if the stream had failed, once answered is closed: envd
// answers a write before its data only to refuse it.
func sendData(stream net.Conn, r io.Reader, answered <-chan struct{}) error {
	buf := make([]byte, envdproto.MaxDataChunk)
	for {
		select {
		case <-answered:
			return errEnvdStream
		default:
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if werr := envdproto.WriteFrame(stream, envdproto.FrameData, buf[:n]); werr != nil {
				return fmt.Errorf("%w: %w", errEnvdStream, werr)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read content: %w", err)
		}
	}
	if err := envdproto.WriteFrame(stream, envdproto.FrameData, nil); err != nil {
		return fmt.Errorf("%w: %w", errEnvdStream, err)
	}
	return nil
}

// FileStream is a file of a sandbox being read.
type FileStream interface {
	io.ReadCloser
	// Info describes the file as it was opened (SHA256 empty).
	Info() FileInfo
	// SHA256 is the hex SHA-256 of the bytes read, known once Read
	// returned io.EOF.
	SHA256() string
}

// FileReader reads a file from a sandbox as envd streams it; it
// implements FileStream.
type FileReader struct {
	info FileInfo

	svc       *Service
	ctx       context.Context
	sandboxID string
	stream    net.Conn
	stop      func() bool
	pending   []byte
	sum       string
	err       error // sticky: io.EOF once the last reply came
}

// OpenFile opens a regular file for reading.
func (s *Service) OpenFile(ctx context.Context, teamID, sandboxID, path string) (FileStream, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	stop, err := envdclient.Request(ctx, stream, envdproto.FrameFileRequest, &envdproto.FileRequest{Op: envdproto.FileRead, Path: path})
	if err != nil {
		stream.Close()
		return nil, s.envdError(ctx, sb.ID, err)
	}
	var rep envdproto.FileReply
	if err := envdclient.ReadReply(stream, envdproto.FrameFileReply, &rep); err != nil {
		stop()
		stream.Close()
		return nil, s.envdError(ctx, sb.ID, err)
	}
	if rep.Info == nil {
		stop()
		stream.Close()
		return nil, apperr.New(apperr.Internal, "envd answered a read of %s without the file's description", path)
	}
	return &FileReader{info: *toFileInfo(rep.Info), svc: s, ctx: ctx, sandboxID: sb.ID, stream: stream, stop: stop}, nil
}

// Read implements io.Reader; it returns io.EOF after the whole file.
func (r *FileReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 && r.err == nil {
		r.next()
	}
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return 0, r.err
}

// next reads one frame: data, the end of the data, or envd's refusal.
func (r *FileReader) next() {
	typ, payload, err := envdproto.ReadFrame(r.stream)
	if err != nil {
		r.err = r.svc.envdError(r.ctx, r.sandboxID, err)
		return
	}
	switch {
	case typ == envdproto.FrameData && len(payload) > 0:
		r.pending = payload
	case typ == envdproto.FrameData:
		var rep envdproto.FileReply
		if err := envdclient.ReadReply(r.stream, envdproto.FrameFileReply, &rep); err != nil {
			r.err = r.svc.envdError(r.ctx, r.sandboxID, err)
			return
		}
		if rep.Info != nil {
			r.sum = rep.Info.SHA256
		}
		r.err = io.EOF
	default:
		r.err = r.svc.envdError(r.ctx, r.sandboxID, envdclient.DecodeReply(typ, payload, envdproto.FrameData, nil))
	}
}

// Info implements FileStream.
func (r *FileReader) Info() FileInfo { return r.info }

// SHA256 implements FileStream.
func (r *FileReader) SHA256() string { return r.sum }

// Close ends the read.
func (r *FileReader) Close() error {
	r.stop()
	return r.stream.Close()
}

// WatchDir streams changes under path until ctx ends.
func (s *Service) WatchDir(ctx context.Context, teamID, sandboxID, path string, recursive bool) (<-chan FileEvent, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	if err := envdclient.Call(ctx, stream, envdproto.FrameFileRequest,
		&envdproto.FileRequest{Op: envdproto.FileWatch, Path: path, Recursive: recursive}, envdproto.FrameFileReply, nil); err != nil {
		stream.Close()
		return nil, s.envdError(ctx, sb.ID, err)
	}
	out := make(chan FileEvent, 64)
	stop := context.AfterFunc(ctx, func() { stream.Close() })
	go func() {
		defer close(out)
		defer stop()
		defer stream.Close()
		for {
			var ev envdproto.WatchEvent
			if err := envdclient.ReadReply(stream, envdproto.FrameWatchEvent, &ev); err != nil {
				return
			}
			select {
			case out <- FileEvent{Type: ev.Type, Path: ev.Path, IsDir: ev.IsDir, At: time.Unix(0, ev.AtNS).UTC()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
