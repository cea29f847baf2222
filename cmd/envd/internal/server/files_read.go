package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// fileRead sends a regular file: a reply with its Info, Data frames, an
// empty Data frame and a last reply whose Info has the SHA-256 and the
// size of the bytes sent. The file is opened as the user; its bytes are
// read from the open file as envd.
func (s *Server) fileRead(stream net.Conn, req *envdproto.FileRequest) error {
	var (
		f     *os.File
		st    *unix.Stat_t
		asked string
	)
	err := s.asUser(func() error {
		fp, err := s.checkPath(req.Path, true)
		if err != nil {
			return err
		}
		asked = fp.asked
		f, st, err = openRegular(fp)
		return err
	})
	if err != nil {
		return err
	}
	defer f.Close()
	stop := onCancel(stream, func() { _ = stream.SetWriteDeadline(time.Now()) })
	defer stop()

	info := statInfo(asked, st)
	if err := writeReply(stream, &envdproto.FileReply{Info: info}); err != nil {
		return err
	}
	h := sha256.New()
	buf := make([]byte, envdproto.MaxDataChunk)
	var size int64
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			if err := envdproto.WriteFrame(stream, envdproto.FrameData, buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", errCanceled, err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fsError(asked, rerr)
		}
	}
	if err := envdproto.WriteFrame(stream, envdproto.FrameData, nil); err != nil {
		return fmt.Errorf("%w: %w", errCanceled, err)
	}
	info.Size, info.SHA256 = size, hex.EncodeToString(h.Sum(nil))
	return writeReply(stream, &envdproto.FileReply{Info: info})
}

// onCancel calls cancel when the agent closes or resets stream, or the
// session ends: after the request the agent of a read or a watch sends
// nothing, so a read from stream that returns means that. The returned
// stop ends the watching without calling cancel; the caller must call it
// before it returns.
func onCancel(stream net.Conn, cancel func()) (stop func()) {
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, stream)
		if !stopping.Load() {
			cancel()
		}
	}()
	return func() {
		stopping.Store(true)
		_ = stream.SetReadDeadline(time.Now())
		<-done
	}
}
