package envdclient

import (
	"context"
	"fmt"
	"net"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// Request writes req as the one request frame of stream (of type t, JSON)
// and ties stream to ctx: when ctx ends the stream is closed, which
// cancels the request in envd and unblocks readers. The returned stop
// unties them (call it when done, before closing the stream).
func Request(ctx context.Context, stream net.Conn, t envdproto.FrameType, req any) (stop func() bool, err error) {
	if err := ctx.Err(); err != nil {
		return func() bool { return false }, err
	}
	stop = context.AfterFunc(ctx, func() { stream.Close() })
	if err := envdproto.WriteJSON(stream, t, req); err != nil {
		stop()
		return func() bool { return false }, fmt.Errorf("envdclient: send %s: %w", t, err)
	}
	return stop, nil
}

// ReadReply reads one frame from stream: a frame of type want is decoded
// into v (when v is not nil); an Error frame is returned as a wrapped
// *envdproto.Error; any other frame is ErrBadFrame.
func ReadReply(stream net.Conn, want envdproto.FrameType, v any) error {
	typ, payload, err := envdproto.ReadFrame(stream)
	if err != nil {
		return fmt.Errorf("envdclient: read %s: %w", want, err)
	}
	return DecodeReply(typ, payload, want, v)
}

// DecodeReply is ReadReply for a frame already read.
func DecodeReply(typ envdproto.FrameType, payload []byte, want envdproto.FrameType, v any) error {
	switch typ {
	case want:
		if v == nil {
			return nil
		}
		return envdproto.DecodeJSON(typ, payload, v)
	case envdproto.FrameError:
		e := &envdproto.Error{}
		if err := envdproto.DecodeJSON(typ, payload, e); err != nil {
			return err
		}
		return fmt.Errorf("envdclient: %w", e)
	}
	return fmt.Errorf("%w: %s where %s was expected", envdproto.ErrBadFrame, typ, want)
}

// Call sends one request on stream and reads its one reply into reply.
func Call(ctx context.Context, stream net.Conn, t envdproto.FrameType, req any, want envdproto.FrameType, reply any) error {
	stop, err := Request(ctx, stream, t, req)
	if err != nil {
		return err
	}
	defer stop()
	err = ReadReply(stream, want, reply)
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		return ctxErr
	}
	return err
}

// DecodeChunk turns an Output payload into the seq-th chunk of a stream.
// Data aliases payload.
func DecodeChunk(payload []byte, seq int64) (agentapi.OutputChunk, error) {
	s, data, err := envdproto.DecodeOutput(payload)
	if err != nil {
		return agentapi.OutputChunk{}, err
	}
	chunk := agentapi.OutputChunk{Stream: agentapi.Stdout, Data: data, Seq: seq}
	if s == envdproto.StreamStderr {
		chunk.Stream = agentapi.Stderr
	}
	return chunk, nil
}
