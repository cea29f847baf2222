package agentrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/codeint/codeint/nodeagent/agentrpc/agentpb"
)

// maxChunk is the most bytes one EnvdData message carries.
const maxChunk = 64 << 10

// Errors of an envd stream.
var (
	// errStreamEnded is what a Write returns once the server has ended
	// the stream.
	errStreamEnded = fmt.Errorf("agentrpc: envd stream ended: %w", io.ErrClosedPipe)
	// errWriteTimedOut is what every call returns after a blocked Write
	// timed out and ended the stream.
	errWriteTimedOut = errors.New("agentrpc: envd stream broken: a write timed out")
)

// envdStream is the client side of OpenEnvd.
type envdStream = grpc.BidiStreamingClient[agentpb.EnvdData, agentpb.EnvdData]

// conn is the net.Conn that OpenEnvd returns: a bidi stream of EnvdData
// messages. A goroutine receives ahead of Read so that a read deadline can
// interrupt a Read without ending the stream. A write that times out while
// blocked (the server does not read) ends the stream, as crypto/tls
// does; every later call fails.
type conn struct {
	nodeID        string
	stream        envdStream
	cancel        context.CancelFunc // ends the stream
	local, remote net.Addr

	closeOnce sync.Once
	closed    chan struct{} // closed by Close

	recv     chan []byte   // the receiver's messages, in order
	recvEnd  chan struct{} // closed when the receiver has set recvErr and stopped
	recvErr  error         // why the stream ended; set before recvEnd closes
	broken   atomic.Bool   // a blocked write timed out and ended the stream
	rmu      sync.Mutex    // serialises Reads; guards rbuf
	rbuf     []byte        // the rest of the last message
	wmu      sync.Mutex    // serialises Writes and CloseSend; guards werr
	werr     error         // sticky failure of a Write
	rdl, wdl *deadline
}

func newConn(nodeID string, stream envdStream, cancel context.CancelFunc, local, remote net.Addr) *conn {
	c := &conn{
		nodeID: nodeID, stream: stream, cancel: cancel, local: local, remote: remote,
		closed:  make(chan struct{}),
		recv:    make(chan []byte),
		recvEnd: make(chan struct{}),
		rdl:     newDeadline(),
		wdl:     newDeadline(),
	}
	go c.receive()
	return c
}

// receive hands the stream's messages to Read until the stream ends.
func (c *conn) receive() {
	defer close(c.recvEnd)
	for {
		m, err := c.stream.Recv()
		if err != nil {
			c.cancel() // release the stream
			c.recvErr = fromStatus(c.nodeID, err)
			return
		}
		if len(m.GetData()) == 0 {
			continue
		}
		select {
		case c.recv <- m.GetData():
		case <-c.closed:
			c.recvErr = net.ErrClosed
			return
		}
	}
}

// Read reads what the server sent, keeping the rest of a message for the
// next Read. It returns io.EOF once the server has ended the stream and
// everything it sent has been read.
func (c *conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if isClosed(c.closed) {
		return 0, net.ErrClosed
	}
	if c.rdl.passed() {
		return 0, os.ErrDeadlineExceeded
	}
	if len(b) == 0 {
		return 0, nil
	}
	if len(c.rbuf) == 0 {
		select {
		case m := <-c.recv:
			c.rbuf = m
		case <-c.recvEnd:
			// The receiver may have handed over its last message first.
			select {
			case m := <-c.recv:
				c.rbuf = m
			default:
				return 0, c.endErr()
			}
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(b, c.rbuf)
	c.rbuf = c.rbuf[n:]
	return n, nil
}

// endErr says why the stream ended, once recvEnd is closed.
func (c *conn) endErr() error {
	switch {
	case isClosed(c.closed):
		return net.ErrClosed
	case c.broken.Load():
		return errWriteTimedOut
	}
	return c.recvErr
}

// Write sends b in messages of at most maxChunk bytes.
func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		switch {
		case isClosed(c.closed):
			return n, net.ErrClosed
		case c.werr != nil:
			return n, c.werr
		case c.wdl.passed():
			return n, os.ErrDeadlineExceeded
		case len(b) == 0:
			return n, nil
		}
		p := b[:min(len(b), maxChunk)]
		if err := c.send(p); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				c.werr = err
			}
			return n, err
		}
		n += len(p)
		b = b[len(p):]
	}
}

// send sends one message. If the write deadline passes while Send is
// blocked, it ends the stream and reports the timeout.
func (c *conn) send(p []byte) error {
	done := make(chan struct{})
	timedOut := make(chan bool, 1)
	go func() {
		select {
		case <-c.wdl.wait():
			c.broken.Store(true)
			c.cancel()
			timedOut <- true
		case <-done:
			timedOut <- false
		}
	}()
	err := c.stream.Send(&agentpb.EnvdData{Data: p})
	close(done)
	if <-timedOut {
		c.werr = errWriteTimedOut
		return os.ErrDeadlineExceeded
	}
	if err == nil {
		return nil
	}
	if isClosed(c.closed) {
		return net.ErrClosed
	}
	if errors.Is(err, io.EOF) {
		// The stream has ended; the receiver learns why, unless it still
		// waits for a Read to take the server's last bytes.
		if isClosed(c.recvEnd) {
			if rerr := c.endErr(); rerr != nil && !errors.Is(rerr, io.EOF) {
				return rerr
			}
		}
		return errStreamEnded
	}
	return fromStatus(c.nodeID, err)
}

// Close ends the stream: the server sees the end of its input and closes
// envd's stream. It unblocks pending Reads and Writes, which return
// net.ErrClosed, and returns once the receiving goroutine has stopped.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
		if c.wmu.TryLock() { // a blocked Write is unblocked by cancel alone
			_ = c.stream.CloseSend()
			c.wmu.Unlock()
		}
		c.cancel()
		<-c.recvEnd
		c.rdl.stop()
		c.wdl.stop()
	})
	if !first {
		return net.ErrClosed
	}
	return nil
}

// LocalAddr is this end of the gRPC connection, or a name for it.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the agent's end of the gRPC connection, or a name for it.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and the write deadline.
func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets when pending and future Reads fail with
// os.ErrDeadlineExceeded; the stream stays usable. The zero time means
// never.
func (c *conn) SetReadDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return net.ErrClosed
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets when pending and future Writes fail with
// os.ErrDeadlineExceeded. A Write that was blocked when it passed ends
// the stream. The zero time means never.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return net.ErrClosed
	}
	c.wdl.set(t)
	return nil
}

// addr names an end of an envd stream when the gRPC connection does not
// say which address it uses.
type addr string

func (a addr) Network() string { return "grpc" }
func (a addr) String() string  { return string(a) }
