package envdclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

var tracer = otel.Tracer("github.com/codeint/codeint/nodeagent/envdclient")

// ErrClosed is returned by calls on a client whose session has ended.
var ErrClosed = errors.New("envdclient: session closed")

// Client talks to one envd.
type Client struct {
	sess   *yamux.Session
	logger *slog.Logger
}

// New starts a yamux client session over conn: the write end of the
// sandbox init's stdin joined with the read end of its stdout. The client
// owns conn and closes it when the session ends. logger may be nil.
func New(conn io.ReadWriteCloser, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false // a dead envd closes its pipes: EOF ends the session
	cfg.LogOutput = nil
	cfg.Logger = slogAdapter{logger}
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("envdclient: start yamux session: %w", err)
	}
	return &Client{sess: sess, logger: logger}, nil
}

// Done is closed when the session ends: Close was called, or envd went away.
func (c *Client) Done() <-chan struct{} { return c.sess.CloseChan() }

// Close ends the session and closes the pipes.
func (c *Client) Close() error {
	if err := c.sess.Close(); err != nil {
		return fmt.Errorf("envdclient: close session: %w", err)
	}
	return nil
}

// OpenStream opens a stream to envd for one request; the caller closes
// it. Unlike the streams of Ping and Exec, it is not tied to a context.
func (c *Client) OpenStream() (net.Conn, error) {
	stream, err := c.sess.OpenStream()
	if err != nil {
		if c.sess.IsClosed() {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, fmt.Errorf("envdclient: open stream: %w", err)
	}
	return stream, nil
}

// open opens a stream that is closed when ctx ends.
func (c *Client) open(ctx context.Context) (*yamux.Stream, func() bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	stream, err := c.sess.OpenStream()
	if err != nil {
		if c.sess.IsClosed() {
			return nil, nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, nil, fmt.Errorf("envdclient: open stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		// Closing tells envd to stop; the deadline unblocks our reader
		// without waiting for envd's answer.
		stream.Close()
		_ = stream.SetReadDeadline(time.Now())
	})
	return stream, stop, nil
}

// Ping round-trips one Ping frame through envd.
func (c *Client) Ping(ctx context.Context) error {
	stream, stop, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	defer stop()
	if err := envdproto.WriteFrame(stream, envdproto.FramePing, nil); err != nil {
		return c.fail(ctx, err)
	}
	typ, _, err := envdproto.ReadFrame(stream)
	if err != nil {
		return c.fail(ctx, err)
	}
	if typ != envdproto.FramePong {
		return fmt.Errorf("envdclient: ping answered with %s", typ)
	}
	return nil
}

// Exec runs req in the sandbox. onOutput, when not nil, is called for every
// chunk, in order, before Exec returns. Cancelling ctx closes the stream;
// envd then kills the process group and Exec returns ctx's error. An error
// envd reports (an unknown language, say) is returned as a wrapped
// *envdproto.Error.
func (c *Client) Exec(ctx context.Context, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (res agentapi.ExecResult, err error) {
	ctx, span := tracer.Start(ctx, "envdclient.Exec")
	span.SetAttributes(attribute.String("execution_id", req.ExecutionID), attribute.String("language", string(req.Language)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()

	stream, stop, err := c.open(ctx)
	if err != nil {
		return res, err
	}
	defer stream.Close()
	defer stop()
	wire := envdproto.ExecRequest{
		ID:             req.ExecutionID,
		Language:       string(req.Language),
		Code:           req.Code,
		Stdin:          req.Stdin,
		Env:            req.Env,
		Args:           req.Args,
		Cwd:            req.Cwd,
		TimeoutMS:      req.Timeout.Milliseconds(),
		MaxOutputBytes: req.MaxOutputBytes,
		ContextID:      req.ContextID,
	}
	if req.CPUTime > 0 {
		wire.CPUTimeMS = max(req.CPUTime.Milliseconds(), 1)
	}
	if req.Timeout > 0 && wire.TimeoutMS == 0 {
		wire.TimeoutMS = 1
	}
	if err := envdproto.WriteJSON(stream, envdproto.FrameExecRequest, &wire); err != nil {
		return res, c.fail(ctx, err)
	}

	var stdout, stderr strings.Builder
	var results []agentapi.DisplayData
	var seq int64
	for {
		typ, payload, err := envdproto.ReadFrame(stream)
		if err != nil {
			return res, c.fail(ctx, err)
		}
		switch typ {
		case envdproto.FrameOutput:
			seq++
			chunk, err := DecodeChunk(payload, seq)
			if err != nil {
				return res, err
			}
			if chunk.Stream == agentapi.Stderr {
				stderr.Write(chunk.Data)
			} else {
				stdout.Write(chunk.Data)
			}
			if onOutput != nil {
				onOutput(chunk)
			}
		case envdproto.FrameDisplay:
			var d envdproto.DisplayData
			if err := envdproto.DecodeJSON(typ, payload, &d); err != nil {
				return res, err
			}
			seq++
			dd := agentapi.DisplayData{Type: d.Type, Data: d.Data}
			results = append(results, dd)
			if onOutput != nil {
				onOutput(agentapi.OutputChunk{Display: &dd, Seq: seq})
			}
		case envdproto.FrameResult:
			var r envdproto.Result
			if err := envdproto.DecodeJSON(typ, payload, &r); err != nil {
				return res, err
			}
			res = convertResult(&r, stdout.String(), stderr.String())
			res.Results = results
			span.SetAttributes(attribute.Int("exit_code", res.ExitCode), attribute.Bool("timed_out", res.TimedOut))
			return res, nil
		case envdproto.FrameError:
			e := &envdproto.Error{}
			if err := envdproto.DecodeJSON(typ, payload, e); err != nil {
				return res, err
			}
			return res, fmt.Errorf("envdclient: exec: %w", e)
		default:
			return res, fmt.Errorf("%w: unexpected %s frame in an exec stream", envdproto.ErrBadFrame, typ)
		}
	}
}

func convertResult(r *envdproto.Result, stdout, stderr string) agentapi.ExecResult {
	res := agentapi.ExecResult{
		Stdout:           stdout,
		Stderr:           stderr,
		ExitCode:         r.ExitCode,
		Truncated:        r.Truncated,
		TimedOut:         r.TimedOut,
		Duration:         time.Duration(r.DurationNS),
		CPUTime:          time.Duration(r.CPUTimeNS),
		PeakMemoryBytes:  r.PeakMemoryBytes,
		ContextRestarted: r.ContextRestarted,
	}
	if r.Error != nil {
		res.Error = &agentapi.ExecError{Name: r.Error.Name, Value: r.Error.Value, Traceback: r.Error.Traceback}
	}
	if c := r.Compile; c != nil {
		res.Compile = &agentapi.CompileResult{ExitCode: c.ExitCode, Stdout: c.Stdout, Stderr: c.Stderr,
			Truncated: c.Truncated, Duration: time.Duration(c.DurationNS)}
	}
	return res
}

// fail turns a stream error into the error a caller should see: ctx's error
// when ctx ended, ErrClosed when the session died.
func (c *Client) fail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if c.sess.IsClosed() {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return fmt.Errorf("envdclient: %w", err)
}

// slogAdapter lets yamux log through slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Print(v ...any) {
	a.l.Warn(strings.TrimSpace(fmt.Sprint(v...)), "component", "yamux")
}
func (a slogAdapter) Printf(format string, v ...any) {
	a.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "yamux")
}
func (a slogAdapter) Println(v ...any) {
	a.l.Warn(strings.TrimSpace(fmt.Sprintln(v...)), "component", "yamux")
}
