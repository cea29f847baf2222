package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// checkTLS refuses a TLS config that would not authenticate both ends:
// Raft RPCs replace the log, so a server must know who dials it.
func checkTLS(c *tls.Config) error {
	if len(c.Certificates) == 0 && c.GetCertificate == nil {
		return errors.New("store: TLS needs a certificate")
	}
	if c.ClientAuth != tls.RequireAndVerifyClientCert {
		return errors.New("store: TLS must set ClientAuth to tls.RequireAndVerifyClientCert (mutual TLS)")
	}
	if c.InsecureSkipVerify {
		return errors.New("store: TLS must verify the peer (InsecureSkipVerify is set)")
	}
	return nil
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS: every connection,
// in or out, presents this server's certificate and checks the peer's.
type tlsStreamLayer struct {
	net.Listener // a tls.Listener
	advertise    net.Addr
	config       *tls.Config
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

// newTLSTransport listens on bindAddr with TLS and returns Raft's network
// transport over it. advertise, when not nil, is the address other servers
// dial.
func newTLSTransport(bindAddr string, advertise net.Addr, config *tls.Config, logger hclog.Logger) (*raft.NetworkTransport, error) {
	ln, err := tls.Listen("tcp", bindAddr, config)
	if err != nil {
		return nil, err
	}
	stream := &tlsStreamLayer{Listener: ln, advertise: advertise, config: config}
	if a, ok := stream.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("address %v is not advertisable: set AdvertiseAddr", stream.Addr())
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: tcpMaxPool,
		Timeout: tcpTimeout,
		Logger:  logger,
	}), nil
}

// Dial connects to a server and completes the TLS handshake within
// timeout.
func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), l.config)
}

// Addr returns the advertised address, or the listener's.
func (l *tlsStreamLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.Listener.Addr()
}
