package nomadtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stream is one event stream a client opened (GET /v1/event/stream).
type Stream struct {
	Index  uint64   // the index asked for
	Topics []string // as asked, e.g. "Node:*"

	frames    chan []byte   // Send's hand-off to the handler
	wake      chan struct{} // published frames wait in queue
	broken    chan struct{} // Break
	breakOnce sync.Once
	ended     chan struct{} // closed when the handler returns

	// Guarded by Server.mu.
	queue [][]byte // published frames not written yet
	open  bool
}

// wants reports whether the stream's topics take an event of the Node
// topic about node key. No topic means every topic, as in Nomad.
func (st *Stream) wants(key string) bool {
	if len(st.Topics) == 0 {
		return true
	}
	for _, tp := range st.Topics {
		topic, k, _ := strings.Cut(tp, ":")
		if (topic == "*" || topic == "Node") && (k == "" || k == "*" || k == key) {
			return true
		}
	}
	return false
}

// Send streams one frame (a line of ndjson) and returns once the fake has
// taken it. The test fails when the stream has ended or takes nothing
// within Wait.
func (st *Stream) Send(t testing.TB, frame []byte) {
	t.Helper()
	select {
	case st.frames <- frame:
	case <-st.ended:
		t.Fatal("nomadtest: the event stream has ended")
	case <-time.After(Wait):
		t.Fatal("nomadtest: the event stream took no frame")
	}
}

// Heartbeat streams the empty frame Nomad sends to keep a stream open.
func (st *Stream) Heartbeat(t testing.TB) {
	t.Helper()
	st.Send(t, []byte("{}"))
}

// Break closes the stream's connection without ending the response, as a
// network failure does.
func (st *Stream) Break() { st.breakOnce.Do(func() { close(st.broken) }) }

// Done is closed when the stream has ended (the client went, Break, or
// the test ended).
func (st *Stream) Done() <-chan struct{} { return st.ended }

// publishLocked records a published frame and queues it on the open
// streams that want it.
func (s *Server) publishLocked(index uint64, key string, frame []byte) {
	s.events = append(s.events, event{index: index, key: key, frame: frame})
	for _, st := range s.streams {
		if !st.open || !st.wants(key) {
			continue
		}
		st.queue = append(st.queue, frame)
		select {
		case st.wake <- struct{}{}:
		default:
		}
	}
}

// NextStream returns the next stream a client opened, in the order they
// were opened, waiting up to Wait for it; the test fails when none comes.
func (s *Server) NextStream(t testing.TB) *Stream {
	t.Helper()
	deadline := time.After(Wait)
	for {
		s.mu.Lock()
		if s.taken < len(s.streams) {
			st := s.streams[s.taken]
			s.taken++
			s.mu.Unlock()
			return st
		}
		opened := s.opened
		s.mu.Unlock()
		select {
		case <-opened:
		case <-deadline:
			t.Fatal("nomadtest: no event stream opened")
			return nil
		}
	}
}

// OpenStreams returns the streams open now, oldest first.
func (s *Server) OpenStreams() []*Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Stream
	for _, st := range s.streams {
		if st.open {
			out = append(out, st)
		}
	}
	return out
}

// stream answers GET /v1/event/stream: after the published events from
// the index asked for, it writes the frames published or sent, one per
// line, flushing each, until the client goes, the test breaks the
// connection or ends.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("invalid index: %v", err), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	refuse := 0
	if len(s.streamErrors) > 0 {
		refuse, s.streamErrors = s.streamErrors[0], s.streamErrors[1:]
	}
	s.mu.Unlock()
	if refuse != 0 {
		http.Error(w, "Permission denied", refuse)
		return
	}
	st := &Stream{Index: index, Topics: r.URL.Query()["topic"], frames: make(chan []byte),
		wake: make(chan struct{}, 1), broken: make(chan struct{}), ended: make(chan struct{})}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		s.t.Errorf("nomadtest: flush: %v", err)
		return
	}
	s.mu.Lock()
	for _, e := range s.events {
		if e.index >= index && st.wants(e.key) {
			st.queue = append(st.queue, e.frame)
		}
	}
	st.open = true
	s.streams = append(s.streams, st)
	close(s.opened)
	s.opened = make(chan struct{})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		st.open, st.queue = false, nil
		s.mu.Unlock()
		close(st.ended)
	}()
	write := func(frame []byte) bool {
		// A published frame is shared by the streams: copied, not appended to.
		line := make([]byte, 0, len(frame)+1)
		if _, err := w.Write(append(append(line, frame...), '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for {
		s.mu.Lock()
		queued := st.queue
		st.queue = nil
		s.mu.Unlock()
		for _, frame := range queued {
			if !write(frame) {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-st.broken:
			conn, _, err := rc.Hijack()
			if err != nil {
				s.t.Errorf("nomadtest: hijack: %v", err)
				return
			}
			_ = conn.Close()
			return
		case frame := <-st.frames:
			if !write(frame) {
				return
			}
		case <-st.wake:
		}
	}
}
