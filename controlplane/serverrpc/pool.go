package serverrpc

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Pool keeps one gRPC client connection per address. It is safe for
// concurrent use.
type Pool struct {
	opts []grpc.DialOption

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// Keepalive of the pools' connections: a peer behind a partition is found
// dead within about Time+Timeout even when no call is running (gRPC does
// not ping more often than every 10 s), and TCP gives up on unacknowledged
// data after Timeout. Servers accept pings this often (ServerKeepalive).
func clientKeepalive() keepalive.ClientParameters {
	return keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}
}

// ServerKeepalive is the server option that lets the pools' clients ping.
func ServerKeepalive() grpc.ServerOption {
	return grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true})
}

// NewPool returns a pool whose connections are made with opts (at least
// the transport credentials) and keepalive pings.
func NewPool(opts ...grpc.DialOption) *Pool {
	opts = append([]grpc.DialOption{grpc.WithKeepaliveParams(clientKeepalive())}, opts...)
	return &Pool{opts: opts, conns: map[string]*grpc.ClientConn{}}
}

// Conn returns the connection to addr, making it on first use. Making a
// connection does not dial: gRPC connects on the first call and
// reconnects after failures.
func (p *Pool) Conn(addr string) (grpc.ClientConnInterface, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("serverrpc: pool closed")
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("serverrpc: connect %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var first error
	for addr, c := range p.conns {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
		delete(p.conns, addr)
	}
	return first
}
