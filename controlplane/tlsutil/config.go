package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
)

// ServerConfig is the tls.Config of a listener: it demands a client
// certificate that verifies against the CA (RequireAndVerifyClientCert),
// then VerifyConnection checks the peer's identity: same cluster id (else
// ErrWrongCluster), and accept(id) when not nil (e.g. only servers of region
// R). Every refusal is logged on log (nil: not logged) as one line ("tls
// peer refused", reason, remote address, peer identity if any) before the
// handshake fails with the reason.
//
// Go would refuse a foreign certificate before any hook of ours runs, so
// each connection is served by a copy of the config (GetConfigForClient)
// that requests the client certificate (RequestClientCert) and verifies
// the chain itself, in the VerifyConnection that logs, with the remote
// address. No handshake completes without a verified certificate. The copy
// names no acceptable CAs: Go clients would otherwise keep quiet a
// certificate of another cluster, and the refusal could only say "no
// certificate". Set fields on the returned config, not on clones of it
// (gRPC's credentials.NewTLS handles this).
func (b *Bundle) ServerConfig(log *slog.Logger, accept func(Identity) error) *tls.Config {
	cfg := b.baseConfig()
	b.listenWith(cfg, log, accept)
	return cfg
}

// ClientConfig is the tls.Config for dialing. It presents the bundle's
// certificate, and verifies the server's chain against the CA in
// VerifyConnection, not its host name (servers are dialled by IP;
// InsecureSkipVerify is set only to turn off Go's own checks, which would
// include the name). Then it checks the same cluster id and accept(id) and
// logs refusals as ServerConfig does. A tls.Config does not learn the
// address it dials, so the remote logged is the server name the handshake
// used (the host dialled when it is a DNS name, nothing for an IP);
// ClientConfigFor logs the address itself.
func (b *Bundle) ClientConfig(log *slog.Logger, accept func(Identity) error) *tls.Config {
	return b.ClientConfigFor("", log, accept)
}

// ClientConfigFor is ClientConfig for dialing one address, which is logged
// as the remote with every refusal (e.g. one config per gRPC ClientConn).
func (b *Bundle) ClientConfigFor(addr string, log *slog.Logger, accept func(Identity) error) *tls.Config {
	cfg := b.baseConfig()
	// The chain is verified by VerifyConnection, which Go calls whatever
	// InsecureSkipVerify says.
	cfg.InsecureSkipVerify = true
	b.dialWith(cfg, addr, log, accept)
	return cfg
}

// PeerConfig is one tls.Config for a party that listens and dials with the
// same config, as Raft's stream layer does (tls.Listen and tls.Dial).
// Listening, it is ServerConfig. Dialing, Go itself verifies the server's
// chain against the CA and the address dialled against the certificate's
// DNS and IP SANs (InsecureSkipVerify stays false: a server dialled by IP
// needs that IP in its certificate, see CertRequest.IPs); then the cluster
// id and accept are checked and refusals logged as by ClientConfig. A chain
// or name failure on the dialling side is not logged, only returned by the
// handshake.
func (b *Bundle) PeerConfig(log *slog.Logger, accept func(Identity) error) *tls.Config {
	cfg := b.baseConfig()
	b.listenWith(cfg, log, accept)
	b.dialWith(cfg, "", log, accept)
	return cfg
}

// baseConfig is what every config shares: TLS 1.3, the bundle's
// certificate, the CA.
func (b *Bundle) baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{b.cert},
		RootCAs:      b.pool,
	}
}

// listenWith makes cfg check the clients that connect to it (see
// ServerConfig).
func (b *Bundle) listenWith(cfg *tls.Config, log *slog.Logger, accept func(Identity) error) {
	v := b.verifier(log, accept, x509.ExtKeyUsageClientAuth, "listener")
	// As returned, the config checks clients the standard way, should a
	// user drop GetConfigForClient.
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = b.pool
	cfg.VerifyConnection = v.verifyConnection("")
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := cfg.Clone()
		c.GetConfigForClient = nil
		c.ClientAuth = tls.RequestClientCert // verified by VerifyConnection
		c.ClientCAs = nil
		remote := ""
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr().String()
		}
		c.VerifyConnection = v.verifyConnection(remote)
		return c, nil
	}
}

// dialWith makes cfg present the bundle's certificate and check the server
// it dials, logging addr (or the server name) with refusals.
func (b *Bundle) dialWith(cfg *tls.Config, addr string, log *slog.Logger, accept func(Identity) error) {
	v := b.verifier(log, accept, x509.ExtKeyUsageServerAuth, "dialer")
	cert := b.cert
	// Always present the certificate, even when the server names no
	// acceptable CA, so that the server can say why it refuses it.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		remote := addr
		if remote == "" {
			remote = cs.ServerName
		}
		return v.verifyConnection(remote)(cs)
	}
}
