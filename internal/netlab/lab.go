package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
)

var (
	// ErrLeftover: names with the lab's prefix exist before the lab made
	// any (another lab of this process took the same name, or a killed run
	// with the same pid left them).
	ErrLeftover = errors.New("netlab: names with this lab's prefix already exist")
	// ErrOutsideLab: an address is not one of the lab's.
	ErrOutsideLab = errors.New("netlab: address outside the lab")
)

// validName is what New accepts: short enough that every interface name
// (prefix + "-" + kind + up to 3 digits) fits in 15 bytes.
var validName = regexp.MustCompile(`^[a-z][a-z0-9]{0,3}$`)

// Lab is one test's network: bridges, namespaces, veth links and proxies.
// Close removes them all.
type Lab struct {
	t      testing.TB
	prefix string // name + pid in base 36, five digits

	mu      sync.Mutex
	closed  bool
	next    int            // numbers interface names
	handed  []netip.Prefix // subnets handed out by Subnet
	bridges []*Bridge
	nss     []*NS
	links   []*Link
	proxies []*Proxy
	toxics  *toxiproxy.ApiServer // made by the first Proxy
}

// New makes an empty lab whose names start with name (1 to 4 lower-case
// letters or digits, starting with a letter, unique among the labs of one
// test run) and registers its Close with t.Cleanup. It fails the test
// without root or without the `ip` tool (it never skips), or when names
// with its prefix exist already.
func New(t testing.TB, name string) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("netlab: namespaces, veths and bridges need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("netlab: the ip tool of iproute2 is not installed: run .ci/install-deps")
	}
	if !validName.MatchString(name) {
		t.Fatalf("netlab: lab name %q: want 1-4 of [a-z0-9], starting with a letter", name)
	}
	l := &Lab{t: t, prefix: name + fmt.Sprintf("%05s", strconv.FormatInt(int64(os.Getpid()), 36))}
	left, err := l.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("%v: %s (remove them with `ip netns del` / `ip link del`)", ErrLeftover, strings.Join(left, ", "))
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: close: %v", err)
		}
	})
	return l
}

// Prefix returns the prefix of every name the lab makes; names are
// Prefix()+"-"+something.
func (l *Lab) Prefix() string { return l.prefix }

// owns reports whether an interface or namespace name is the lab's.
func (l *Lab) owns(name string) bool { return strings.HasPrefix(name, l.prefix+"-") }

// newName returns a fresh interface name: prefix-<kind><n>.
func (l *Lab) newName(kind string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	return fmt.Sprintf("%s-%s%d", l.prefix, kind, l.next)
}

// Leftovers lists the namespaces and root-namespace interfaces whose names
// carry the lab's prefix: what the lab made and has not removed.
func (l *Lab) Leftovers() ([]string, error) {
	nss, err := NamespaceNames()
	if err != nil {
		return nil, err
	}
	links, err := LinkNames()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nss {
		if l.owns(n) {
			out = append(out, "netns "+n)
		}
	}
	for _, n := range links {
		if l.owns(n) {
			out = append(out, "link "+n)
		}
	}
	return out, nil
}

// Close stops the proxies and removes the links, bridges and namespaces
// the lab made; it reports what it could not remove, and processes still
// running in a namespace (the namespace lives on until they exit, though
// without links and without a name). Close may be called more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	proxies, links, bridges, nss := l.proxies, l.links, l.bridges, l.nss
	l.mu.Unlock()

	var errs []error
	for _, p := range proxies {
		p.close()
	}
	for _, ns := range nss {
		if pids, err := ip("netns", "pids", ns.name); err == nil && strings.TrimSpace(pids) != "" {
			errs = append(errs, fmt.Errorf("netlab: processes still run in %s: %s", ns.name, strings.Join(strings.Fields(pids), " ")))
		}
	}
	// Deleting one end of a veth deletes both, even when a process keeps
	// the namespace of the other end alive.
	for _, ln := range links {
		errs = append(errs, ipIgnoreMissing("link", "del", ln.host))
	}
	for _, b := range bridges {
		errs = append(errs, ipIgnoreMissing("link", "del", b.name))
	}
	for _, ns := range nss {
		errs = append(errs, ipIgnoreMissing("netns", "del", ns.name))
	}
	left, err := l.Leftovers()
	errs = append(errs, err)
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("netlab: still there after close: %s", strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}

// alive fails the test when the lab is closed.
func (l *Lab) alive() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		l.t.Fatal("netlab: the lab is closed")
	}
}

// NamespaceNames lists the named network namespaces (`ip netns list`).
func NamespaceNames() ([]string, error) {
	out, err := ip("netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "name" or "name (id: 3)"
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// LinkNames lists the interfaces of the root namespace (`ip link`),
// without the "@peer" suffix of veths.
func LinkNames() ([]string, error) {
	out, err := ip("-o", "link", "show")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "7: name@if6: <BROADCAST,…"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names = append(names, name)
	}
	return names, nil
}

// ip runs the ip tool and returns its output.
func ip(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ipIgnoreMissing runs a deletion, which is done when the object is gone
// already (deleting a namespace deletes its veth ends and their peers).
func ipIgnoreMissing(args ...string) error {
	_, err := ip(args...)
	if err != nil && (strings.Contains(err.Error(), "Cannot find device") || strings.Contains(err.Error(), "No such file")) {
		return nil
	}
	return err
}
