package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// procWait bounds every wait of these tests.
const procWait = 10 * time.Second

// procStream is one ProcessRequest stream, read in the background.
type procStream struct {
	st      *yamux.Stream
	mu      sync.Mutex
	reply   *envdproto.ProcessReply
	err     *envdproto.Error
	stdout  strings.Builder
	stderr  strings.Builder
	exit    *envdproto.ProcessExit
	frames  []envdproto.FrameType
	changed chan struct{} // a frame arrived
	done    chan struct{} // the stream ended
}

// openProc sends req on a new stream and reads the answer in the
// background.
func openProc(t *testing.T, sess *yamux.Session, req *envdproto.ProcessRequest) *procStream {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := envdproto.WriteJSON(st, envdproto.FrameProcessRequest, req); err != nil {
		t.Fatal(err)
	}
	ps := &procStream{st: st, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go ps.read()
	return ps
}

func (ps *procStream) read() {
	defer close(ps.done)
	for {
		ft, payload, err := envdproto.ReadFrame(ps.st)
		if err != nil {
			return
		}
		ps.mu.Lock()
		ps.frames = append(ps.frames, ft)
		switch ft {
		case envdproto.FrameOutput:
			s, data, _ := envdproto.DecodeOutput(payload)
			if s == envdproto.StreamStderr {
				ps.stderr.Write(data)
			} else {
				ps.stdout.Write(data)
			}
		case envdproto.FrameProcessReply:
			ps.reply = &envdproto.ProcessReply{}
			_ = envdproto.DecodeJSON(ft, payload, ps.reply)
		case envdproto.FrameProcessExit:
			ps.exit = &envdproto.ProcessExit{}
			_ = envdproto.DecodeJSON(ft, payload, ps.exit)
		case envdproto.FrameError:
			ps.err = &envdproto.Error{}
			_ = envdproto.DecodeJSON(ft, payload, ps.err)
		}
		ps.mu.Unlock()
		select {
		case ps.changed <- struct{}{}:
		default:
		}
	}
}

// waitUntil waits until cond (called with ps.mu held) holds.
func (ps *procStream) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(procWait)
	for {
		ps.mu.Lock()
		ok := cond()
		out := ps.stdout.String()
		ps.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ps.changed:
		case <-ps.done:
			ps.mu.Lock()
			ok := cond()
			ps.mu.Unlock()
			if !ok {
				t.Fatalf("stream ended before %s; stdout %s", what, clip(out))
			}
			return
		case <-deadline:
			t.Fatalf("no %s after %v; stdout %s", what, procWait, clip(out))
		}
	}
}

// waitOutput waits until stdout contains want.
func (ps *procStream) waitOutput(t *testing.T, want string) {
	t.Helper()
	ps.waitUntil(t, fmt.Sprintf("output %q", want), func() bool { return strings.Contains(ps.stdout.String(), want) })
}

// info waits for the reply and returns its one process.
func (ps *procStream) info(t *testing.T) envdproto.ProcessInfo {
	t.Helper()
	ps.waitUntil(t, "reply", func() bool { return ps.reply != nil || ps.err != nil })
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.err != nil || len(ps.reply.Processes) != 1 {
		t.Fatalf("reply: %+v, error %+v", ps.reply, ps.err)
	}
	return ps.reply.Processes[0]
}

// end waits for the stream to end.
func (ps *procStream) end(t *testing.T) {
	t.Helper()
	select {
	case <-ps.done:
	case <-time.After(procWait):
		t.Fatalf("stream still open after %v; stdout %s", procWait, clip(ps.out()))
	}
}

// wait waits for the stream to end with an exit frame, and returns it.
func (ps *procStream) wait(t *testing.T) *envdproto.ProcessExit {
	t.Helper()
	ps.end(t)
	if ps.exit == nil || ps.frames[len(ps.frames)-1] != envdproto.FrameProcessExit {
		t.Fatalf("no exit frame last: %d frames, error %+v, stdout %s", len(ps.frames), ps.err, clip(ps.stdout.String()))
	}
	return ps.exit
}

// clip shows the end of a long output.
func clip(s string) string {
	if len(s) > 2000 {
		return fmt.Sprintf("(%d bytes) …%q", len(s), s[len(s)-2000:])
	}
	return fmt.Sprintf("%q", s)
}

func (ps *procStream) out() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.stdout.String()
}

// procCall sends a request that ends with a reply (or an error) and
// returns them.
func procCall(t *testing.T, sess *yamux.Session, req *envdproto.ProcessRequest) (*envdproto.ProcessReply, *envdproto.Error) {
	t.Helper()
	ps := openProc(t, sess, req)
	ps.end(t)
	if ps.reply == nil && ps.err == nil {
		t.Fatalf("%+v: neither reply nor error", req)
	}
	return ps.reply, ps.err
}

// procOK is procCall for a request that must succeed; it returns the one
// process of the reply.
func procOK(t *testing.T, sess *yamux.Session, req *envdproto.ProcessRequest) envdproto.ProcessInfo {
	t.Helper()
	rep, perr := procCall(t, sess, req)
	if perr != nil || len(rep.Processes) != 1 {
		t.Fatalf("%s: %+v, error %+v", req.Op, rep, perr)
	}
	return rep.Processes[0]
}

// procCode checks that req fails with code.
func procCode(t *testing.T, sess *yamux.Session, req *envdproto.ProcessRequest, code string) {
	t.Helper()
	if _, perr := procCall(t, sess, req); perr == nil || perr.Code != code {
		t.Fatalf("%+v: error %+v, want %s", req, perr, code)
	}
}

// listed returns the process pid of a list, or nil.
func listed(t *testing.T, sess *yamux.Session, pid int) *envdproto.ProcessInfo {
	t.Helper()
	rep, perr := procCall(t, sess, &envdproto.ProcessRequest{Op: envdproto.ProcessList})
	if perr != nil {
		t.Fatalf("list: %+v", perr)
	}
	for _, p := range rep.Processes {
		if p.PID == pid {
			return &p
		}
	}
	return nil
}

// gone waits until process pid no longer lives (or is a zombie).
func gone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; ; i++ {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil || strings.Contains(string(data), "State:\tZ") {
			return
		}
		if i == 100 {
			t.Fatalf("process %d still lives", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// escaped waits until process pid runs sleep in a session of its own.
func escaped(t *testing.T, pid int) {
	t.Helper()
	for i := 0; ; i++ {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatalf("escapee: %v", err)
		}
		// pid (comm) state ppid pgrp session …
		f := strings.Fields(string(data))
		if len(f) > 5 && f[1] == "(sleep)" && f[5] == strconv.Itoa(pid) {
			return
		}
		if i == 100 {
			t.Fatalf("process %d did not leave the session: %s", pid, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
