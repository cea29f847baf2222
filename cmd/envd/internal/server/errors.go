package server

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// codedError is a request envd refuses as the agent sees it: an Error
// frame's code and message, and the error behind them, if any. File and
// process operations return it; replyError writes it.
type codedError struct {
	code, msg string
	err       error
}

// Error implements error.
func (e *codedError) Error() string { return e.msg }

// Unwrap returns the error behind e.
func (e *codedError) Unwrap() error { return e.err }

// invalidf returns an INVALID_ARGUMENT codedError.
func invalidf(format string, args ...any) error {
	return &codedError{code: envdproto.CodeInvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// preconditionf returns a FAILED_PRECONDITION codedError.
func preconditionf(format string, args ...any) error {
	return &codedError{code: envdproto.CodeFailedPrecondition, msg: fmt.Sprintf(format, args...)}
}

// replyError answers a request with an Error frame for err: its code when
// it is a codedError, INTERNAL (and a log line with what and logArgs)
// otherwise; nothing when err is nil or the agent canceled.
func (s *Server) replyError(stream net.Conn, err error, what string, logArgs ...any) {
	if err == nil || errors.Is(err, errCanceled) {
		return
	}
	var ce *codedError
	if !errors.As(err, &ce) {
		s.cfg.Logger.Error(what, append(logArgs, "err", err)...)
		ce = &codedError{code: envdproto.CodeInternal, msg: err.Error(), err: err}
	}
	s.writeError(stream, ce.code, ce.msg)
}

// checkEnv applies envd's rules to a request's environment: keys not
// empty, without '=' or NUL; values without NUL.
func checkEnv(env map[string]string) error {
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			return invalidf("invalid env variable %q", k)
		}
	}
	return nil
}
