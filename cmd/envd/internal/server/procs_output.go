package server

import (
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// Bounds of a process's output in envd.
const (
	// historyLimit is how much of a process's output (stdout and stderr
	// together) envd keeps for attaches; beyond it the oldest goes.
	historyLimit = 1 << 20
	// attachQueueLen and attachQueueBytes bound how far an attacher may
	// fall behind the process (in chunks, in bytes) before envd drops it.
	attachQueueLen   = 4096
	attachQueueBytes = 4 << 20
)

// chunk is one read of a process's output. Its data is never modified
// after it is published, so the history and every attacher share it.
type chunk struct {
	stream envdproto.Stream
	data   []byte
}

// outputHub keeps a process's recent output and fans its live output out
// to the attached streams. The readers of the process publish to it; an
// attacher that does not keep up is dropped rather than slowing the
// process or the other attachers. Safe for concurrent use.
type outputHub struct {
	log       *slog.Logger
	mu        sync.Mutex
	history   []chunk
	size      int
	truncated bool
	attachers map[*attacher]struct{}
	exit      *envdproto.ProcessExit // set once the process ended and its output was drained
}

// attacher is one attached stream's queue of live output. ch is closed
// when the process ended (exit is then set) or when the attacher was
// dropped (dropped is then set); both are written before the close.
type attacher struct {
	ch      chan chunk
	queued  atomic.Int64 // bytes in ch
	conn    net.Conn
	exit    *envdproto.ProcessExit
	dropped bool
}

func newOutputHub(log *slog.Logger) *outputHub {
	return &outputHub{log: log, attachers: make(map[*attacher]struct{})}
}

// publish adds output to the history and queues it to every attacher.
func (h *outputHub) publish(s envdproto.Stream, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := chunk{stream: s, data: data}
	h.history = append(h.history, c)
	h.size += len(data)
	for h.size > historyLimit {
		h.truncated = true
		first := &h.history[0]
		if excess := h.size - historyLimit; excess < len(first.data) {
			first.data = first.data[excess:]
			h.size -= excess
			break
		}
		h.size -= len(first.data)
		h.history[0] = chunk{}
		h.history = h.history[1:]
	}
	for a := range h.attachers {
		if a.queued.Add(int64(len(data))) > attachQueueBytes {
			h.drop(a)
			continue
		}
		select {
		case a.ch <- c:
		default:
			h.drop(a)
		}
	}
}

// drop detaches a slow attacher and closes its stream, which ends a write
// it is blocked in. h.mu is held.
func (h *outputHub) drop(a *attacher) {
	h.log.Warn("dropping an attached stream that fell behind the process's output; the process goes on",
		"queued_bytes", a.queued.Load(), "queued_chunks", len(a.ch))
	delete(h.attachers, a)
	a.dropped = true
	close(a.ch)
	go a.conn.Close()
}

// subscribe returns the history and, while the process runs, an attacher
// for what follows; once it ended, the exit instead.
func (h *outputHub) subscribe(conn net.Conn) ([]chunk, *attacher, *envdproto.ProcessExit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hist := slices.Clone(h.history)
	if h.exit != nil {
		return hist, nil, h.exit
	}
	a := &attacher{ch: make(chan chunk, attachQueueLen), conn: conn}
	h.attachers[a] = struct{}{}
	return hist, a, nil
}

func (h *outputHub) unsubscribe(a *attacher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.attachers, a)
}

// isTruncated reports whether output was dropped from the history.
func (h *outputHub) isTruncated() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.truncated
}

// end records how the process ended, once nothing more is published, and
// hands it to every attacher.
func (h *outputHub) end(exit *envdproto.ProcessExit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exit = exit
	for a := range h.attachers {
		a.exit = exit
		close(a.ch)
	}
	clear(h.attachers)
}

// release forgets the history of a process removed from the table.
func (h *outputHub) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history, h.size = nil, 0
}

// streamProcess sends p's output on stream as an attach does: the
// history, the live output, then the exit. It returns when the process
// ended (after the exit frame), when the agent closes the stream (a
// detach: the process goes on), or when the attacher is dropped.
func (s *Server) streamProcess(stream net.Conn, p *bgProc) {
	log := s.cfg.Logger.With("pid", p.pid)
	hist, a, exit := p.out.subscribe(stream)
	if a != nil {
		defer p.out.unsubscribe(a)
	}
	// The agent sends nothing after the request: a read that returns means
	// it closed (detached) or reset the stream, or the session died.
	// Closing our side then ends a write blocked on flow control.
	gone := watchClose(stream)
	go func() {
		<-gone
		stream.Close()
	}()
	for _, c := range hist {
		if err := envdproto.WriteOutput(stream, c.stream, c.data); err != nil {
			log.Debug("attach ended while sending history", "err", err)
			return
		}
	}
	for exit == nil {
		select {
		case c, ok := <-a.ch:
			if !ok {
				if a.dropped {
					log.Warn("attached stream dropped: it did not read the output fast enough")
					return
				}
				exit = a.exit
				break
			}
			a.queued.Add(-int64(len(c.data)))
			if err := envdproto.WriteOutput(stream, c.stream, c.data); err != nil {
				log.Debug("attach ended", "err", err)
				return
			}
		case <-gone:
			log.Debug("agent detached")
			return
		}
	}
	if err := envdproto.WriteJSON(stream, envdproto.FrameProcessExit, exit); err != nil {
		log.Debug("write process exit", "err", err)
	}
}
