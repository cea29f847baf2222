package netlab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the processes run inside namespaces: with
// NETLAB_HELPER set it is an echo server or a client measuring round trips
// instead of running tests.
const (
	helperEnv = "NETLAB_HELPER" // "echo" or "ping"
	addrEnv   = "NETLAB_ADDR"   // where to listen or connect
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "echo":
		os.Exit(echoMain(os.Getenv(addrEnv)))
	case "ping":
		os.Exit(pingMain(os.Getenv(addrEnv)))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%s\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// echoMain listens on addr, says "ready" on stdout, and echoes every
// connection until killed.
func echoMain(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// pingMain connects to addr, makes three one-byte round trips and prints
// the shortest as "rtt <nanoseconds>"; it fails after a second without an
// answer.
func pingMain(addr string) int {
	rtt, err := roundTrip(addr, time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("rtt %d\n", rtt.Nanoseconds())
	return 0
}

// roundTrip connects to an echo server and returns the shortest of three
// one-byte round trips, each within timeout.
func roundTrip(addr string, timeout time.Duration) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	best := time.Duration(-1)
	buf := []byte{0}
	for i := range 3 {
		start := time.Now()
		_ = c.SetDeadline(start.Add(timeout))
		if _, err := c.Write([]byte{byte('a' + i)}); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, fmt.Errorf("round trip %d: %w", i, err)
		}
		if buf[0] != byte('a'+i) {
			return 0, fmt.Errorf("round trip %d: got %q back", i, buf)
		}
		if d := time.Since(start); best < 0 || d < best {
			best = d
		}
	}
	return best, nil
}

// helper returns a Cmd running the test binary as a helper in ns.
func helper(t *testing.T, ns *NS, mode, addr string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, addrEnv+"="+addr)
	return cmd
}

// startEcho runs an echo server in ns on addr and waits until it listens;
// the returned func kills it (also at cleanup).
func startEcho(t *testing.T, ns *NS, addr string) (kill func()) {
	t.Helper()
	cmd := helper(t, ns, "echo", addr)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	kill = func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		close(done)
	}
	t.Cleanup(kill)
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line == "ready\n"
	}()
	select {
	case ok := <-ready:
		if !ok {
			kill()
			t.Fatalf("echo server in %s on %s did not start: %s", ns.Name(), addr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		kill()
		t.Fatalf("echo server in %s on %s not ready within 10s: %s", ns.Name(), addr, stderr.String())
	}
	return kill
}

// pingFrom measures a round trip to an echo server at addr from inside ns.
func pingFrom(t *testing.T, ns *NS, addr string) (time.Duration, error) {
	t.Helper()
	out, err := helper(t, ns, "ping", addr).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ping %s from %s: %w: %s", addr, ns.Name(), err, strings.TrimSpace(string(out)))
	}
	var ns64 int64
	if _, err := fmt.Sscanf(string(out), "rtt %d", &ns64); err != nil {
		return 0, fmt.Errorf("ping %s from %s: output %q: %w", addr, ns.Name(), out, err)
	}
	return time.Duration(ns64), nil
}

// waitPing pings addr from ns until it answers or timeout passes.
func waitPing(t *testing.T, ns *NS, addr string, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rtt, err := pingFrom(t, ns, addr)
		if err == nil {
			return rtt
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
