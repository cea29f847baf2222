package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Bridge is a Linux bridge in the root namespace with the first address of
// its subnet.
type Bridge struct {
	lab    *Lab
	label  string // the name the test gave
	name   string // the interface name
	subnet netip.Prefix
	addr   netip.Addr
}

// Bridge makes a bridge in the root namespace named after label (the
// interface itself gets a lab name) holding the first address of cidr, a
// subnet no address or route of the root namespace overlaps (see Subnet),
// e.g. "10.90.1.0/24" gives the bridge 10.90.1.1/24.
func (l *Lab) Bridge(label, cidr string) *Bridge {
	l.t.Helper()
	l.alive()
	subnet, err := netip.ParsePrefix(cidr)
	if err != nil || !subnet.Addr().Is4() || subnet.Bits() > 30 {
		l.t.Fatalf("netlab: bridge %s: subnet %q: want an IPv4 CIDR of /30 or larger", label, cidr)
	}
	subnet = subnet.Masked()
	if used, err := usedPrefixes(); err != nil {
		l.t.Fatal(err)
	} else if p, ok := overlapping(subnet, used); ok {
		l.t.Fatalf("netlab: bridge %s: %s overlaps %s in the root namespace (a leftover lab? another test?)", label, subnet, p)
	}
	b := &Bridge{lab: l, label: label, name: l.newName("b"), subnet: subnet, addr: subnet.Addr().Next()}
	// Register before creating, so that Close removes a half-made bridge.
	l.mu.Lock()
	l.bridges = append(l.bridges, b)
	l.mu.Unlock()
	l.must(
		[]string{"link", "add", b.name, "type", "bridge"},
		[]string{"addr", "add", b.CIDR(), "dev", b.name},
		[]string{"link", "set", b.name, "up"},
	)
	return b
}

// Name returns the bridge's interface name.
func (b *Bridge) Name() string { return b.name }

// IP returns the bridge's address in the root namespace, e.g. "10.90.1.1".
func (b *Bridge) IP() string { return b.addr.String() }

// CIDR returns the bridge's address with the subnet's length, e.g.
// "10.90.1.1/24".
func (b *Bridge) CIDR() string { return netip.PrefixFrom(b.addr, b.subnet.Bits()).String() }

// Subnet returns the bridge's subnet, e.g. "10.90.1.0/24".
func (b *Bridge) Subnet() string { return b.subnet.String() }

// host returns address number idx of the subnet.
func (b *Bridge) host(idx int) (netip.Addr, error) {
	size := 1 << (32 - b.subnet.Bits())
	if idx < 2 || idx >= size-1 {
		return netip.Addr{}, fmt.Errorf("netlab: host index %d outside 2..%d of %s (1 is the bridge)", idx, size-2, b.subnet)
	}
	a := b.subnet.Addr().As4()
	n := binary.BigEndian.Uint32(a[:]) + uint32(idx)
	binary.BigEndian.PutUint32(a[:], n)
	return netip.AddrFrom4(a), nil
}

// Subnet returns a /24 in 10.160.0.0/11 that no address or route of the
// root namespace overlaps and that this lab has not handed out before, for
// Bridge. Where the search starts depends on the pid, so parallel runs
// pick different subnets.
func (l *Lab) Subnet() string {
	l.t.Helper()
	used, err := usedPrefixes()
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	used = append(used, l.handed...)
	const first, count = 160 << 8, 32 << 8 // 10.160.0.0/24 … 10.191.255.0/24
	start := (os.Getpid() * 7919) % count
	for i := range count {
		n := first + (start+i)%count
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 8), byte(n), 0}), 24)
		if _, ok := overlapping(p, used); !ok {
			l.handed = append(l.handed, p)
			return p.String()
		}
	}
	l.t.Fatal("netlab: no free /24 in 10.160.0.0/11")
	return ""
}

// overlapping returns the first of used that overlaps p.
func overlapping(p netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Overlaps(p) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// usedPrefixes lists the IPv4 addresses (with their subnets) and the routes
// of the root namespace's main table, but not the default route.
func usedPrefixes() ([]netip.Prefix, error) {
	var used []netip.Prefix
	addrs, err := ip("-4", "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(addrs, "\n") {
		// "3: eth0    inet 192.0.2.2/24 brd … scope global eth0"
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					used = append(used, p.Masked())
				}
			}
		}
	}
	routes, err := ip("-4", "route", "show")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(routes, "\n") {
		// "10.1.0.0/16 via …", "192.0.2.7 dev eth0 …", "default via …"
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		dst := f[0]
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// must runs ip commands in order and fails the test at the first error.
func (l *Lab) must(cmds ...[]string) {
	l.t.Helper()
	for _, args := range cmds {
		if _, err := ip(args...); err != nil {
			l.t.Fatal(err)
		}
	}
}
