package serverrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
)

// SendHeartbeat sends one heartbeat and decodes the reply.
func SendHeartbeat(ctx context.Context, c serverpb.ServerClient, hb nodes.Heartbeat) (nodes.Reply, error) {
	b, err := json.Marshal(hb)
	if err != nil {
		return nodes.Reply{}, fmt.Errorf("heartbeat: %w", err)
	}
	r, err := c.Heartbeat(ctx, &serverpb.HeartbeatRequest{Heartbeat: b})
	if err != nil {
		return nodes.Reply{}, forward.FromStatus(err)
	}
	var reply nodes.Reply
	if err := json.Unmarshal(r.GetReply(), &reply); err != nil {
		return nodes.Reply{}, fmt.Errorf("heartbeat reply: %w", err)
	}
	return reply, nil
}

// SendSnapshot uploads a snapshot for restore and returns the index the
// region restored. An upload that cannot be read to its end is cancelled,
// so the server restores nothing (closing the stream would end it as if
// complete).
func SendSnapshot(ctx context.Context, c serverpb.ServerClient, r io.Reader) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.SnapshotRestore(ctx)
	if err != nil {
		return 0, forward.FromStatus(err)
	}
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&serverpb.Chunk{Data: b}) }}
	if _, err := io.Copy(w, r); err != nil && !errors.Is(err, io.EOF) {
		cancel()
		return 0, fmt.Errorf("snapshot upload: %w", forward.FromStatus(err))
	}
	if err := w.flush(); err != nil {
		return 0, forward.FromStatus(err)
	}
	reply, err := stream.CloseAndRecv()
	if err != nil {
		return 0, forward.FromStatus(err)
	}
	return reply.GetIndex(), nil
}

// ReceiveSnapshot downloads a snapshot taken now into w.
func ReceiveSnapshot(ctx context.Context, c serverpb.ServerClient, w io.Writer) (int64, error) {
	stream, err := c.SnapshotSave(ctx, &serverpb.SnapshotSaveRequest{})
	if err != nil {
		return 0, forward.FromStatus(err)
	}
	var n int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, forward.FromStatus(err)
		}
		m, err := w.Write(chunk.GetData())
		n += int64(m)
		if err != nil {
			return n, fmt.Errorf("snapshot download: %w", err)
		}
	}
}

// chunkWriter buffers writes into messages of chunkSize.
type chunkWriter struct {
	send func([]byte) error
	buf  []byte
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(w.buf)
		take := min(room, len(p))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == chunkSize {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = nil
	return err
}

// errNoServers: the agent knows no server to beat to.
var errNoServers = errors.New("serverrpc: no servers to send heartbeats to")
