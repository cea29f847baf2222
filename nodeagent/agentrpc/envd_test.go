package agentrpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// envdFake is an agent whose OpenEnvd hands out one end of a loopback TCP
// connection; the test gets the other end, standing for envd.
func envdFake(t *testing.T) (*fakeAgent, <-chan net.Conn) {
	t.Helper()
	envd := make(chan net.Conn, 1)
	return &fakeAgent{openEnvd: func(_ context.Context, id string) (net.Conn, error) {
		if id != "sb-1" {
			return nil, fmt.Errorf("agent: unknown sandbox %s", id)
		}
		agentEnd, envdEnd, err := tcpPair(t)
		if err != nil {
			return nil, err
		}
		envd <- envdEnd
		return agentEnd, nil
	}}, envd
}

func mustOpenEnvd(t *testing.T, c *Client) net.Conn {
	t.Helper()
	conn, err := c.OpenEnvd(t.Context(), "sb-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestOpenEnvdEchoesMiBIntact(t *testing.T) {
	fake, envd := envdFake(t)
	c := mustServe(t, fake)
	conn := mustOpenEnvd(t, c)
	echo := <-envd
	go io.Copy(echo, echo) //nolint:errcheck // ends when the stream closes

	want := make([]byte, 5<<20+123) // not a multiple of the 64 KiB messages
	if _, err := rand.Read(want); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		// Uneven writes, some larger than one message.
		rest := want
		for i := 1; len(rest) > 0; i++ {
			n := min(len(rest), i*37_001)
			if _, err := conn.Write(rest[:n]); err != nil {
				wrote <- err
				return
			}
			rest = rest[n:]
		}
		wrote <- nil
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read back differ from the bytes written")
	}

	// Closing the stream closes envd's end on the node.
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want net.ErrClosed", err)
	}
	if _, err := conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
	if err := conn.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
}

func TestOpenEnvdServerEndReadsEOF(t *testing.T) {
	fake, envd := envdFake(t)
	c := mustServe(t, fake)
	conn := mustOpenEnvd(t, c)
	e := <-envd
	if _, err := e.Write([]byte("hello, world")); err != nil {
		t.Fatal(err)
	}
	e.Close() // envd ends the stream

	// Small reads take one message in pieces, then io.EOF.
	var got []byte
	buf := make([]byte, 5)
	for {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
	}
	if string(got) != "hello, world" {
		t.Errorf("read %q, want %q", got, "hello, world")
	}
	if _, err := conn.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("Read after the end = %v, want io.EOF", err)
	}
	if _, err := conn.Write([]byte("late")); err == nil {
		t.Error("Write after the server ended the stream succeeded")
	}
}

func TestOpenEnvdClientEndClosesEnvd(t *testing.T) {
	fake, envd := envdFake(t)
	c := mustServe(t, fake)
	conn := mustOpenEnvd(t, c)
	e := <-envd
	if _, err := conn.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	got, err := io.ReadAll(e) // returns once the node closed envd's stream
	if err != nil {
		t.Fatalf("envd's end: %v", err)
	}
	if string(got) != "request" {
		t.Errorf("envd read %q, want %q", got, "request")
	}
}

func TestOpenEnvdCloseUnblocksRead(t *testing.T) {
	fake, _ := envdFake(t)
	c := mustServe(t, fake)
	conn := mustOpenEnvd(t, c)
	read := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 1))
		read <- err
	}()
	conn.Close()
	if err := <-read; !errors.Is(err, net.ErrClosed) {
		t.Errorf("pending Read = %v, want net.ErrClosed", err)
	}
}

func TestOpenEnvdReadDeadline(t *testing.T) {
	fake, envd := envdFake(t)
	c := mustServe(t, fake)
	conn := mustOpenEnvd(t, c)
	e := <-envd

	// A deadline in the past unblocks a pending Read.
	read := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 1))
		read <- err
	}()
	if err := conn.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	requireTimeout(t, "pending Read", <-read)

	// A deadline in the future fires.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Read(make([]byte, 1))
	requireTimeout(t, "Read past the deadline", err)

	// The stream outlives timeouts: with no deadline, data still arrives.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ok" {
		t.Errorf("Read after clearing the deadline = %q, %v", buf, err)
	}
}

func TestOpenEnvdWriteDeadline(t *testing.T) {
	// envd that never reads through a pipe without a buffer, and a fixed
	// 64 KiB window: a Write blocks after about two messages.
	agentEnd, envdEnd := net.Pipe()
	defer envdEnd.Close()
	c := mustServe(t, &fakeAgent{openEnvd: func(context.Context, string) (net.Conn, error) { return agentEnd, nil }},
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10))
	conn := mustOpenEnvd(t, c)

	if err := conn.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Write([]byte("x"))
	requireTimeout(t, "Write past the deadline", err)
	if n != 0 {
		t.Errorf("Write past the deadline wrote %d bytes", n)
	}

	if err := conn.SetWriteDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<20)
	n, err = conn.Write(big)
	requireTimeout(t, "blocked Write", err)
	if n >= len(big) {
		t.Errorf("blocked Write wrote all %d bytes", n)
	}
	// The timed-out write broke the stream.
	conn.SetWriteDeadline(time.Time{}) //nolint:errcheck
	if _, err := conn.Write([]byte("x")); !errors.Is(err, errWriteTimedOut) {
		t.Errorf("Write after a blocked Write timed out = %v, want errWriteTimedOut", err)
	}
}

func requireTimeout(t *testing.T, what string, err error) {
	t.Helper()
	var ne net.Error
	if !os.IsTimeout(err) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s = %v, want a timeout (os.IsTimeout, net.Error.Timeout)", what, err)
	}
}

func TestOpenEnvdOutlivesItsContext(t *testing.T) {
	fake, envd := envdFake(t)
	c := mustServe(t, fake)
	ctx, cancel := context.WithCancel(t.Context())
	conn, err := c.OpenEnvd(ctx, "sb-1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cancel()
	e := <-envd
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatalf("Write after the context ended: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(e, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("envd read %q, %v", buf, err)
	}
	if _, err := e.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("Read after the context ended = %q, %v", buf, err)
	}
}

func TestOpenEnvdAddrs(t *testing.T) {
	fake, _ := envdFake(t)
	c := mustServe(t, fake)
	conn := mustOpenEnvd(t, c)
	if conn.LocalAddr() == nil || conn.RemoteAddr() == nil {
		t.Fatalf("LocalAddr = %v, RemoteAddr = %v, want both set", conn.LocalAddr(), conn.RemoteAddr())
	}
	if _, ok := conn.RemoteAddr().(*net.TCPAddr); !ok {
		t.Errorf("RemoteAddr = %T %v, want the agent's TCP address", conn.RemoteAddr(), conn.RemoteAddr())
	}
}

func TestOpenEnvdErrors(t *testing.T) {
	fake, _ := envdFake(t)
	c := mustServe(t, fake)
	_, err := c.OpenEnvd(t.Context(), "sb-unknown")
	if err == nil || err.Error() != "agent: unknown sandbox sb-unknown" {
		t.Errorf("OpenEnvd(unknown) = %v, want the agent's error", err)
	}

	fake.openEnvd = func(context.Context, string) (net.Conn, error) {
		return nil, fmt.Errorf("agent: %w", agentapi.ErrNoCapacity)
	}
	if _, err := c.OpenEnvd(t.Context(), "sb-1"); !errors.Is(err, agentapi.ErrNoCapacity) {
		t.Errorf("OpenEnvd = %v, want agentapi.ErrNoCapacity", err)
	}
}

func TestOpenEnvdContextEndsWhileOpening(t *testing.T) {
	agentCtxDone := make(chan error, 1)
	c := mustServe(t, &fakeAgent{openEnvd: func(ctx context.Context, _ string) (net.Conn, error) {
		<-ctx.Done()
		agentCtxDone <- ctx.Err()
		return nil, ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.OpenEnvd(ctx, "sb-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenEnvd = %v, want context.DeadlineExceeded", err)
	}
	if err := <-agentCtxDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the agent's context ended with %v, want context.Canceled", err)
	}
}
