package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

const (
	// maxEventLine bounds one event line; the drivers keep display data
	// under 15 MiB, and a longer line means the protocol broke.
	maxEventLine = 20 << 20
	// maxDrain bounds what one drain of stdout or stderr reads, so a
	// process that writes without pause cannot hold events back for
	// ever.
	maxDrain = 1 << 20
)

// event is one JSON line of the driver on fd 4.
type event struct {
	Ev    string                  `json:"ev"`
	Data  []envdproto.DisplayData `json:"data,omitempty"`
	Error *envdproto.ExecError    `json:"error,omitempty"`
}

// loop reads the interpreter's stdout, stderr and events until the
// process ends, the protocol breaks or Close is called. It is the only
// reader of those pipes and the only caller of the sinks.
func (k *Kernel) loop() {
	defer close(k.loopDone)
	k.obuf = make([]byte, envdproto.MaxOutputChunk-1)
	k.ebuf = make([]byte, 64<<10)
	fds := []unix.PollFd{
		{Fd: int32(k.stdout), Events: unix.POLLIN},
		{Fd: int32(k.stderr), Events: unix.POLLIN},
		{Fd: int32(k.events), Events: unix.POLLIN},
		{Fd: int32(k.wakeR), Events: unix.POLLIN},
	}
	streams := [2]envdproto.Stream{envdproto.StreamStdout, envdproto.StreamStderr}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			k.finish(fmt.Sprintf("poll: %v", err))
			return
		}
		// Output first: what is in the pipes now was written before the
		// events that are ready now.
		for i, s := range streams {
			if fds[i].Revents != 0 && !k.drain(int(fds[i].Fd), s, -1) {
				fds[i].Fd = -1 // EOF: poll ignores it from now on
			}
		}
		if fds[2].Revents != 0 {
			eof, err := k.readEvents()
			if err != nil {
				k.finish(err.Error())
				return
			}
			if eof {
				k.finish("the interpreter closed its event pipe")
				return
			}
		}
		if fds[3].Revents != 0 { // the process ended, or Close
			_, _ = k.readEvents()
			k.finish("")
			return
		}
	}
}

// finish reads what is left in stdout and stderr (a bounded amount),
// then marks the kernel dead and ends the running cell with Died.
func (k *Kernel) finish(reason string) {
	k.drain(k.stdout, envdproto.StreamStdout, maxDrain)
	k.drain(k.stderr, envdproto.StreamStderr, maxDrain)
	k.mu.Lock()
	k.dead = true
	if reason != "" && k.reason == "" {
		k.reason = reason
	}
	cs := k.cell
	k.cell = nil
	k.mu.Unlock()
	if cs != nil {
		cs.done <- Outcome{Died: true}
	}
}

// drain reads fd until it would block, hits EOF or has read limit bytes
// (limit < 0: maxDrain), and passes the data on. It returns false at EOF
// or a read error.
func (k *Kernel) drain(fd int, s envdproto.Stream, limit int) bool {
	if limit < 0 {
		limit = maxDrain
	}
	for read := 0; read < limit; {
		n, err := unix.Read(fd, k.obuf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return true
		case err != nil || n == 0:
			return false
		}
		read += n
		k.output(s, k.obuf[:n])
	}
	return true
}

// output passes data to the running cell's sink; between cells it is
// dropped, before the driver is ready kept for Start's error.
func (k *Kernel) output(s envdproto.Stream, data []byte) {
	k.mu.Lock()
	cs := k.cell
	if !k.readyOK {
		k.startup.write(data)
	}
	k.mu.Unlock()
	if cs != nil {
		cs.sink.Output(s, data)
	}
}

// readEvents reads the event pipe until it would block and handles each
// complete line, draining stdout and stderr before each. eof reports the
// pipe's end.
func (k *Kernel) readEvents() (eof bool, err error) {
	for {
		n, rerr := unix.Read(k.events, k.ebuf)
		switch {
		case errors.Is(rerr, unix.EINTR):
			continue
		case errors.Is(rerr, unix.EAGAIN):
			return false, nil
		case rerr != nil || n == 0:
			return true, nil
		}
		data := k.ebuf[:n]
		for {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				k.partial = append(k.partial, data...)
				break
			}
			line := append(k.partial, data[:nl]...)
			k.partial = k.partial[:0]
			data = data[nl+1:]
			k.drain(k.stdout, envdproto.StreamStdout, -1)
			k.drain(k.stderr, envdproto.StreamStderr, -1)
			k.handle(line)
			if cap(k.partial) > 1<<20 {
				k.partial = nil // a large display's; do not keep it
			}
		}
		if len(k.partial) > maxEventLine {
			return false, fmt.Errorf("protocol: an event line over %d MiB", maxEventLine>>20)
		}
	}
}

// handle acts on one event line.
func (k *Kernel) handle(line []byte) {
	var ev event
	if err := json.Unmarshal(line, &ev); err != nil {
		// A line cut by an interrupt: if it was a display, its driver
		// waits for the ack; a spare ack costs nothing.
		k.ack()
		return
	}
	switch ev.Ev {
	case "ready":
		k.mu.Lock()
		first := !k.readyOK
		k.readyOK = true
		k.mu.Unlock()
		if first {
			close(k.ready)
		}
	case "started":
		var signal func()
		k.mu.Lock()
		if cs := k.cell; cs != nil {
			cs.started = true
			signal, cs.interrupt = cs.interrupt, nil
		}
		k.mu.Unlock()
		if signal != nil {
			signal()
		}
	case "display":
		k.mu.Lock()
		cs := k.cell
		k.mu.Unlock()
		if cs != nil {
			for _, d := range ev.Data {
				cs.sink.Display(d)
			}
		}
		k.ack()
	case "done":
		k.mu.Lock()
		cs := k.cell
		k.cell = nil
		k.mu.Unlock()
		if cs != nil {
			cs.done <- Outcome{Error: ev.Error}
		}
	}
}

// ack tells the driver a display event was forwarded.
func (k *Kernel) ack() {
	_, _ = k.acks.Write([]byte{'\n'}) // an error: the driver is gone
}
