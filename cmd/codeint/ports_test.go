package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// handedOut holds the ports freeAddr gave this test binary, so that two
// processes of one test are never given the same one. Test-only state.
var handedOut sync.Map

// lowestPort is where freeAddr's range starts.
const lowestPort = 10000

// freeAddr returns a loopback address with a port free right now, below
// the kernel's ephemeral range. Tests kill and restart servers on the
// same ports; a port from the ephemeral range could meanwhile become the
// local end of some outgoing connection, and the restarted server could
// not listen on it.
func freeAddr(t testing.TB) string {
	t.Helper()
	hi := ephemeralLow(t)
	if hi-lowestPort < 1000 {
		t.Fatalf("the ephemeral port range starts at %d: too few ports below it for test servers", hi)
	}
	for range 1000 {
		port := lowestPort + rand.IntN(hi-lowestPort)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // in use
		}
		ln.Close()
		return addr
	}
	t.Fatalf("no free loopback port in [%d, %d) after 1000 tries", lowestPort, hi)
	return ""
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatalf("ephemeral port range: %v", err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err != nil {
		t.Fatalf("ephemeral port range %q: %v", b, err)
	}
	return lo
}
