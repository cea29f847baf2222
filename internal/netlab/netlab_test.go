package netlab

import (
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTwoNamespacesOnABridge: processes in two namespaces on one bridge
// reach each other and the root namespace reaches both; nothing routes out
// of the lab; taking one link down cuts that namespace off both ways, and
// bringing it up heals it.
func TestTwoNamespacesOnABridge(t *testing.T) {
	lab := New(t, "tb")
	lan := lab.Bridge("lan", lab.Subnet())
	a, b := lab.Namespace("a"), lab.Namespace("b")
	ipA, linkA := a.Attach(lan, 2)
	ipB, _ := b.Attach(lan, 3)
	echo := net.JoinHostPort(ipA, "7000")
	// The echo server binds ipA, an address that exists only in a: the
	// process really runs in the namespace.
	startEcho(t, a, echo)

	rtt, err := pingFrom(t, b, echo)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s) → %s: round trip %v", b.Name(), ipB, echo, rtt)
	if _, err := roundTrip(echo, time.Second); err != nil {
		t.Fatalf("from the root namespace: %v", err)
	}

	t.Run("no route out of the lab", func(t *testing.T) {
		out, err := ip("-n", a.Name(), "-4", "route", "show")
		if err != nil {
			t.Fatal(err)
		}
		routes := strings.Split(strings.TrimSpace(out), "\n")
		if len(routes) != 1 || !strings.HasPrefix(routes[0], lan.Subnet()+" ") {
			t.Fatalf("routes in %s: %q, want only %s", a.Name(), routes, lan.Subnet())
		}
		// A documentation address (TEST-NET-2): no packet leaves, the
		// connect fails at once.
		_, err = pingFrom(t, a, "198.51.100.1:9")
		if err == nil || !strings.Contains(err.Error(), "network is unreachable") {
			t.Fatalf("connect out of the lab: %v, want network is unreachable", err)
		}
	})

	t.Run("down cuts the namespace off, up heals it", func(t *testing.T) {
		if err := linkA.Down(); err != nil {
			t.Fatal(err)
		}
		// The connects time out: packets are lost, nothing refuses them.
		_, err := pingFrom(t, b, echo)
		if err == nil || !strings.Contains(err.Error(), "i/o timeout") {
			t.Fatalf("%s to %s across a link that is down: %v, want a timeout", b.Name(), echo, err)
		}
		_, err = roundTrip(echo, time.Second)
		if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
			t.Fatalf("the root namespace to %s across a link that is down: %v, want a timeout", echo, err)
		}
		if err := linkA.Up(); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		waitPing(t, b, echo, 5*time.Second)
		t.Logf("reachable again %v after Up", time.Since(healed).Round(time.Millisecond))
	})
}

// TestProxyAddsLatency: a proxy with 40 ms each way makes a round trip
// through it take at least 80 ms more than none; latency can be changed on
// the fly; Down refuses connections and Up accepts them again.
func TestProxyAddsLatency(t *testing.T) {
	lab := New(t, "tp")
	wan := lab.Bridge("wan", lab.Subnet())
	a, b := lab.Namespace("a"), lab.Namespace("b")
	ipA, _ := a.Attach(wan, 2)
	b.Attach(wan, 3)
	echo := net.JoinHostPort(ipA, "7000")
	startEcho(t, a, echo)

	direct, err := pingFrom(t, b, echo)
	if err != nil {
		t.Fatal(err)
	}
	const each = 40 * time.Millisecond
	px := lab.Proxy("wan", net.JoinHostPort(wan.IP(), "0"), echo, each)
	if host, _, _ := net.SplitHostPort(px.Addr()); host != wan.IP() || strings.HasSuffix(px.Addr(), ":0") {
		t.Fatalf("proxy address %s, want a port on %s", px.Addr(), wan.IP())
	}
	slow, err := pingFrom(t, b, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round trip direct %v, through the proxy with %v each way %v", direct, each, slow)
	if slow < 2*each {
		t.Fatalf("round trip through the proxy %v, want ≥ %v", slow, 2*each)
	}

	if err := px.SetLatency(0); err != nil {
		t.Fatal(err)
	}
	if fast, err := pingFrom(t, b, px.Addr()); err != nil || fast >= each {
		t.Fatalf("without latency: round trip %v (%v), want < %v", fast, err, each)
	}
	if err := px.SetLatency(each); err != nil {
		t.Fatal(err)
	}
	if again, err := pingFrom(t, b, px.Addr()); err != nil || again < 2*each {
		t.Fatalf("latency set again: round trip %v (%v), want ≥ %v", again, err, 2*each)
	}

	if err := px.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(px.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("through a proxy that is down: %v, want connection refused", err)
	}
	if err := px.Up(); err != nil {
		t.Fatal(err)
	}
	if _, err := pingFrom(t, b, px.Addr()); err != nil {
		t.Fatalf("after Up: %v", err)
	}

	t.Run("addresses outside the lab are refused", func(t *testing.T) {
		for _, c := range []struct{ listen, upstream string }{
			{"127.0.0.1:0", echo},
			{net.JoinHostPort(wan.IP(), "0"), "198.51.100.1:80"},
		} {
			if err := lab.checkProxyAddrs(c.listen, c.upstream); !errors.Is(err, ErrOutsideLab) {
				t.Errorf("listen %s upstream %s: %v, want ErrOutsideLab", c.listen, c.upstream, err)
			}
		}
	})
}

// TestCloseRemovesEverything: after Close no namespace, veth or bridge of
// the lab is left, and a process still running in a namespace is reported.
func TestCloseRemovesEverything(t *testing.T) {
	nsBefore, linksBefore := listings(t)
	lab := New(t, "tc")
	b1, b2 := lab.Bridge("one", lab.Subnet()), lab.Bridge("two", lab.Subnet())
	a, b := lab.Namespace("a"), lab.Namespace("b")
	ipA, _ := a.Attach(b1, 2)
	a.Attach(b2, 2)
	b.Attach(b1, 3)
	lab.Proxy("p", net.JoinHostPort(b1.IP(), "0"), net.JoinHostPort(ipA, "7000"), 0)
	kill := startEcho(t, a, net.JoinHostPort(ipA, "7000"))

	nsDuring, linksDuring := listings(t)
	if got := ours(lab, nsDuring); len(got) != 2 {
		t.Fatalf("namespaces of the lab: %v, want 2", got)
	}
	// Two bridges and the root ends of three veths.
	if got := ours(lab, linksDuring); len(got) != 5 {
		t.Fatalf("interfaces of the lab: %v, want 5", got)
	}

	err := lab.Close()
	if err == nil || !strings.Contains(err.Error(), "processes still run in "+a.Name()) {
		t.Fatalf("close with a process left in %s: %v, want it reported", a.Name(), err)
	}
	kill()
	nsAfter, linksAfter := listings(t)
	for _, c := range []struct {
		what          string
		before, after []string
	}{{"namespaces", nsBefore, nsAfter}, {"interfaces", linksBefore, linksAfter}} {
		if got := ours(lab, c.after); len(got) > 0 {
			t.Errorf("%s left by the lab: %v", c.what, got)
		}
		var added []string
		for _, n := range c.after {
			if !slices.Contains(c.before, n) {
				added = append(added, n)
			}
		}
		if len(added) > 0 {
			t.Logf("%s added meanwhile (by other labs?): %v", c.what, added)
		}
	}
	if left, err := lab.Leftovers(); err != nil || len(left) > 0 {
		t.Fatalf("leftovers: %v, %v", left, err)
	}
	if err := lab.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// listings returns `ip netns` and `ip link` names.
func listings(t *testing.T) (nss, links []string) {
	t.Helper()
	nss, err := NamespaceNames()
	if err != nil {
		t.Fatal(err)
	}
	links, err = LinkNames()
	if err != nil {
		t.Fatal(err)
	}
	return nss, links
}

func ours(l *Lab, names []string) []string {
	var out []string
	for _, n := range names {
		if l.owns(n) {
			out = append(out, n)
		}
	}
	return out
}
