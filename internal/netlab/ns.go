package netlab

import (
	"fmt"
	"net/netip"
	"os/exec"
)

// NS is a network namespace of the lab.
type NS struct {
	lab   *Lab
	label string
	name  string // as `ip netns` knows it
}

// Namespace makes a network namespace named after label (1 to 20 of
// [a-z0-9-], unique in the lab) with lo up and nothing else.
func (l *Lab) Namespace(label string) *NS {
	l.t.Helper()
	l.alive()
	if !validLabel(label) {
		l.t.Fatalf("netlab: namespace label %q: want 1-20 of [a-z0-9-]", label)
	}
	ns := &NS{lab: l, label: label, name: l.prefix + "-" + label}
	l.mu.Lock()
	for _, other := range l.nss {
		if other.name == ns.name {
			l.mu.Unlock()
			l.t.Fatalf("netlab: namespace %q made twice", label)
		}
	}
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	l.must(
		[]string{"netns", "add", ns.name},
		[]string{"-n", ns.name, "link", "set", "lo", "up"},
	)
	return ns
}

func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Name returns the namespace's name as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// Attach joins the namespace to a bridge with a veth pair: the root end is
// a port of the bridge, the namespace end gets address number hostIdx of
// the bridge's subnet (2 or more; 1 is the bridge's) and, with it, a route
// to that subnet. No default route is ever added. It returns the
// namespace's new address (e.g. "10.90.1.2") and the link, to cut it.
func (ns *NS) Attach(b *Bridge, hostIdx int) (ip string, link *Link) {
	l := ns.lab
	l.t.Helper()
	l.alive()
	addr, err := b.host(hostIdx)
	if err != nil {
		l.t.Fatalf("netlab: attach %s to %s: %v", ns.label, b.label, err)
	}
	ln := &Link{lab: l, ns: ns, bridge: b, host: l.newName("v"), addr: addr}
	ln.peer = ln.host + "p"
	l.mu.Lock()
	l.links = append(l.links, ln)
	l.mu.Unlock()
	cidr := netip.PrefixFrom(addr, b.subnet.Bits()).String()
	l.must(
		[]string{"link", "add", ln.host, "type", "veth", "peer", "name", ln.peer, "netns", ns.name},
		[]string{"link", "set", ln.host, "master", b.name},
		[]string{"link", "set", ln.host, "up"},
		[]string{"-n", ns.name, "addr", "add", cidr, "dev", ln.peer},
		[]string{"-n", ns.name, "link", "set", ln.peer, "up"},
	)
	return addr.String(), ln
}

// Command returns a Cmd that runs the program name inside the network
// namespace (through `nsenter --net`, which execs it in place: the Cmd's
// process is the program, so signals reach it). Only the network
// namespace changes: `ip netns exec` would also remount /sys, hiding the
// cgroup mounts that a node agent's runc needs. name is looked up in
// PATH; pass an absolute path to be sure.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns.name, "--", name}, args...)...)
}

// Link is one veth pair between a namespace and a bridge.
type Link struct {
	lab    *Lab
	ns     *NS
	bridge *Bridge
	host   string // the root end, a port of the bridge
	peer   string // the end in the namespace
	addr   netip.Addr
}

// Down takes the root end of the link down: the namespace's end loses its
// carrier and nothing passes either way between the namespace and the
// bridge until Up. Established TCP connections are not reset; their
// packets are lost.
func (ln *Link) Down() error {
	if _, err := ip("link", "set", ln.host, "down"); err != nil {
		return fmt.Errorf("netlab: cut %s from %s: %w", ln.ns.label, ln.bridge.label, err)
	}
	return nil
}

// Up brings the root end of the link up again (a bridge without STP
// forwards on the port at once).
func (ln *Link) Up() error {
	if _, err := ip("link", "set", ln.host, "up"); err != nil {
		return fmt.Errorf("netlab: heal %s to %s: %w", ln.ns.label, ln.bridge.label, err)
	}
	return nil
}

// IP returns the namespace's address on this link.
func (ln *Link) IP() string { return ln.addr.String() }

// String names the link: "ns<->bridge (host-if)".
func (ln *Link) String() string {
	return fmt.Sprintf("%s<->%s (%s)", ln.ns.label, ln.bridge.label, ln.host)
}
