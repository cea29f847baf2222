package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
)

// PeerIdentity reads the verified peer's identity from the state of a
// completed handshake made with ServerConfig, ClientConfig or PeerConfig
// (which verified the peer before the handshake could complete); e.g. from
// gRPC's credentials.TLSInfo. The error wraps ErrNoIdentity.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if !cs.HandshakeComplete {
		return Identity{}, fmt.Errorf("%w: the TLS handshake is not complete", ErrNoIdentity)
	}
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, fmt.Errorf("%w: the peer sent no certificate", ErrNoIdentity)
	}
	return IdentityFromCert(cs.PeerCertificates[0])
}

// verifier checks the peer of one side of a connection.
type verifier struct {
	pool      *x509.CertPool
	clusterID string
	usage     x509.ExtKeyUsage // what the peer's certificate must allow
	accept    func(Identity) error
	log       *slog.Logger
	side      string // "listener" or "dialer", for the log
}

func (b *Bundle) verifier(log *slog.Logger, accept func(Identity) error, usage x509.ExtKeyUsage, side string) verifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return verifier{pool: b.pool, clusterID: b.id.ClusterID, usage: usage, accept: accept, log: log, side: side}
}

// verifyConnection is a tls.Config.VerifyConnection that logs refusals
// with the remote address.
func (v verifier) verifyConnection(remote string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		claimed, err := v.check(cs)
		if err == nil {
			return nil
		}
		attrs := []any{"side", v.side, "reason", err.Error(), "remote", remote}
		if claimed != (Identity{}) {
			attrs = append(attrs, "peer", claimed.String())
		}
		v.log.Warn("tls peer refused", attrs...)
		return err
	}
}

// check returns the identity the peer claims (zero if none) and why it is
// refused (nil if it is not). The cluster id is compared before the chain
// is verified so that a peer of another cluster (signed by that cluster's
// CA) is reported as such; nothing is accepted before the chain verifies.
func (v verifier) check(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, fmt.Errorf("%w: the peer sent no certificate", ErrNoIdentity)
	}
	leaf := cs.PeerCertificates[0]
	id, idErr := IdentityFromCert(leaf)
	if idErr == nil && id.ClusterID != v.clusterID {
		return id, fmt.Errorf("%w: peer is in cluster %q, this is %q", ErrWrongCluster, id.ClusterID, v.clusterID)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: v.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{v.usage}}
	if _, err := leaf.Verify(opts); err != nil {
		return id, fmt.Errorf("%w: %w", ErrUnknownAuthority, err)
	}
	if idErr != nil {
		return Identity{}, idErr
	}
	if v.accept != nil {
		if err := v.accept(id); err != nil {
			if !errors.Is(err, ErrRefused) {
				err = fmt.Errorf("%w: %w", ErrRefused, err)
			}
			return id, err
		}
	}
	return id, nil
}
