package hostile

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Nothing here sends a packet: raw sockets are only created, egress is
// probed with UDP connect() (a route lookup), and the only TCP connects go
// to 127.0.0.1 and ::1.

const rawSocketsPy = `ETH_P_ALL = 3
must_fail("AF_PACKET SOCK_RAW", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)))
must_fail("AF_PACKET SOCK_DGRAM", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL)))
must_fail("AF_INET SOCK_RAW ICMP", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
must_fail("AF_INET SOCK_RAW IPPROTO_RAW", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW))
must_fail("AF_INET6 SOCK_RAW ICMPV6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6))
`

func TestRawSockets(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(rawSocketsPy), 10*time.Second))
		w.assertAnswers(t, id)
	})
}

// egressPy probes the routes with UDP connect(), which sends nothing, and
// lists the interfaces and routes. gVisor's netstack reports a missing
// route as EHOSTUNREACH where Linux says ENETUNREACH.
const egressPy = `NOROUTE = [errno.ENETUNREACH] + ([errno.EHOSTUNREACH] if @GVISOR@ else [])
for host, port in (("169.254.169.254", 80), ("192.0.2.1", 9)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    must_fail("route to %s" % host, lambda: s.connect((host, port)), NOROUTE)
    s.close()
try:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
except OSError as e:
    ok("route to 2001:db8::1", "no IPv6: " + E(e.errno))
else:
    must_fail("route to 2001:db8::1", lambda: s.connect(("2001:db8::1", 9)), NOROUTE + [errno.EADDRNOTAVAIL])
    s.close()
ifaces = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:] if ":" in l)
if ifaces != ["lo"]:
    bad("/proc/net/dev", "interfaces %s, want only lo" % ifaces)
else:
    ok("/proc/net/dev", "lo")
# gVisor's sysfs has no class/net; where it exists, it lists lo only.
try:
    sysnet = sorted(os.listdir("/sys/class/net"))
except OSError as e:
    ok("/sys/class/net", "not listable: " + E(e.errno))
else:
    if sysnet != ["lo"]:
        bad("/sys/class/net", "lists %s, want only lo" % sysnet)
    else:
        ok("/sys/class/net", "lo")
defaults = [l for l in open("/proc/net/route").read().splitlines()[1:] if l.split()[1] == "00000000"]
if defaults:
    bad("/proc/net/route", "default route: %s" % defaults)
else:
    ok("/proc/net/route", "no default route")
try:
    v6 = open("/proc/net/ipv6_route").read().splitlines()
except OSError:
    v6 = []
v6defaults = [l for l in v6 if l.split()[0] == "0" * 32 and l.split()[1] == "00" and l.split()[-1] != "lo"]
if v6defaults:
    bad("/proc/net/ipv6_route", "default route: %s" % v6defaults)
`

func TestEgress(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		gvisor := "False"
		if w.rt == agentapi.RuntimeGVisor {
			gvisor = "True"
		}
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(egressPy, "GVISOR", gvisor), 10*time.Second))
		w.assertAnswers(t, id)
	})
}

// hostLoopbackPy connects to listeners on the host's loopback: the
// sandbox's loopback is its own, where nothing listens.
const hostLoopbackPy = `for host, port, fam in (("127.0.0.1", @PORT4@, socket.AF_INET), ("::1", @PORT6@, socket.AF_INET6)):
    if port == 0:
        continue
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError as e:
        ok("connect to the host's %s" % host, E(e.errno))
        continue
    s.settimeout(3)
    must_fail("connect to the host's %s:%d" % (host, port), lambda: s.connect((host, port)), [errno.ECONNREFUSED, errno.EADDRNOTAVAIL, errno.ENETUNREACH])
    s.close()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
must_fail("connect to the host's abstract socket", lambda: s.connect("\0@ABSTRACT@"), [errno.ECONNREFUSED])
`

func TestHostLoopback(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		var accepted atomic.Int64
		listen := func(network, addr string) (net.Listener, int) {
			ln, err := net.Listen(network, addr)
			if err != nil {
				if network == "tcp6" {
					t.Logf("no IPv6 loopback on the host: %v", err)
					return nil, 0
				}
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted.Add(1)
					c.Close()
				}
			}()
			port := 0
			if a, ok := ln.Addr().(*net.TCPAddr); ok {
				port = a.Port
			}
			return ln, port
		}
		_, port4 := listen("tcp4", "127.0.0.1:0")
		_, port6 := listen("tcp6", "[::1]:0")
		abstract := "codeint-hostile-host-" + token()
		listen("unix", "@"+abstract)

		res := run(t, w.a, id, agentapi.Python, py(hostLoopbackPy,
			"PORT4", strconv.Itoa(port4), "PORT6", strconv.Itoa(port6), "ABSTRACT", abstract), 15*time.Second)
		checkProbes(t, res)
		if n := accepted.Load(); n > 0 {
			t.Errorf("protection missing: the host's loopback listeners accepted %d connections from the sandbox (no network namespace of its own)", n)
		}
		w.assertAnswers(t, id)
	})
}
