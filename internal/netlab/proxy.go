package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Proxy is a TCP proxy in this process between a client and an upstream
// in the lab, adding latency each way: a WAN link made of toxiproxy.
type Proxy struct {
	lab  *Lab
	name string
	p    *toxiproxy.Proxy
	addr string

	mu      sync.Mutex // serialises SetLatency
	latency time.Duration
}

// The two latency toxics of a proxy.
var latencyToxics = []struct{ name, stream string }{
	{"latency_up", "upstream"},     // client → upstream
	{"latency_down", "downstream"}, // upstream → client
}

// Proxy starts a proxy listening in the root namespace on listen, an
// address of one of the lab's bridges ("10.90.1.1:0" picks a port), that
// forwards every connection to upstream, an address in one of the lab's
// subnets, delaying the data latency each way (a round trip takes 2 ×
// latency more). name is unique in the lab.
func (l *Lab) Proxy(name, listen, upstream string, latency time.Duration) *Proxy {
	l.t.Helper()
	l.alive()
	if err := l.checkProxyAddrs(listen, upstream); err != nil {
		l.t.Fatalf("netlab: proxy %s: %v", name, err)
	}
	l.mu.Lock()
	if l.toxics == nil {
		l.toxics = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	}
	srv := l.toxics
	l.mu.Unlock()
	px := &Proxy{lab: l, name: name, p: toxiproxy.NewProxy(srv, name, listen, upstream)}
	if err := srv.Collection.Add(px.p, true); err != nil {
		l.t.Fatalf("netlab: proxy %s on %s: %v", name, listen, err)
	}
	l.mu.Lock()
	l.proxies = append(l.proxies, px)
	l.mu.Unlock()
	px.addr = px.p.Listen // the address bound, port chosen
	if err := px.SetLatency(latency); err != nil {
		l.t.Fatal(err)
	}
	return px
}

// checkProxyAddrs refuses a listen address that is not a bridge's and an
// upstream outside the lab's subnets: test traffic stays in the lab.
func (l *Lab) checkProxyAddrs(listen, upstream string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	la, err := netip.ParseAddrPort(listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", listen, err)
	}
	ua, err := netip.ParseAddrPort(upstream)
	if err != nil {
		return fmt.Errorf("upstream %q: %w", upstream, err)
	}
	listenOK, upstreamOK := false, false
	for _, b := range l.bridges {
		listenOK = listenOK || b.addr == la.Addr()
		upstreamOK = upstreamOK || b.subnet.Contains(ua.Addr())
	}
	switch {
	case !listenOK:
		return fmt.Errorf("%w: listen %s is no bridge's address", ErrOutsideLab, listen)
	case !upstreamOK:
		return fmt.Errorf("%w: upstream %s is in no bridge's subnet", ErrOutsideLab, upstream)
	}
	return nil
}

// Addr returns the address the proxy listens on, port included.
func (px *Proxy) Addr() string { return px.addr }

// Latency returns the latency added each way.
func (px *Proxy) Latency() time.Duration {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.latency
}

// SetLatency changes the latency added each way, for open connections too
// (data in flight is delivered without the old delay). The toxics are
// replaced rather than edited, which toxiproxy does without data races.
func (px *Proxy) SetLatency(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("netlab: proxy %s: negative latency %v", px.name, d)
	}
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, tx := range latencyToxics {
		if px.p.Toxics.GetToxic(tx.name) != nil {
			if err := px.p.Toxics.RemoveToxic(context.Background(), tx.name); err != nil {
				return fmt.Errorf("netlab: proxy %s: remove %s: %w", px.name, tx.name, err)
			}
		}
		if d == 0 {
			continue
		}
		spec := fmt.Sprintf(`{"name":%q,"type":"latency","stream":%q,"attributes":{"latency":%d}}`, tx.name, tx.stream, d.Milliseconds())
		if _, err := px.p.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
			return fmt.Errorf("netlab: proxy %s: add %s: %w", px.name, tx.name, err)
		}
	}
	px.latency = d
	return nil
}

// Down disables the proxy: it closes its listener (new connections are
// refused) and every connection through it.
func (px *Proxy) Down() error {
	px.p.Stop()
	return nil
}

// Up enables the proxy again, on the same address.
func (px *Proxy) Up() error {
	if err := px.p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		return fmt.Errorf("netlab: proxy %s on %s: %w", px.name, px.addr, err)
	}
	return nil
}

// Close stops the proxy for good (Lab.Close closes every proxy).
func (px *Proxy) Close() error {
	px.close()
	return nil
}

func (px *Proxy) close() {
	// Remove stops the proxy; a second Remove finds nothing, which is fine.
	_ = px.lab.toxicServer().Collection.Remove(px.name)
}

func (l *Lab) toxicServer() *toxiproxy.ApiServer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.toxics
}
