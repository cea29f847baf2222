// Package tlsutil owns the mutual TLS of codeint's cluster traffic: the
// cluster CA, the certificates of servers, node agents and clients, and the
// tls.Config builders that every listener and dialer between them uses
// (Raft, gRPC between servers and regions, gRPC to node agents).
//
// Every certificate names its holder with one URI SAN,
//
//	codeint://<clusterID>/<role>/<region>[/<name>]
//
// (an Identity). The CA's subject names the cluster id, and every certificate
// it signs carries that id. A connection is accepted only when the peer's
// certificate chains to the cluster CA, carries an identity of the same
// cluster, and passes the caller's accept hook (RequireRole, RequireRegion).
// Both ends verify: a listener (ServerConfig) asks for and checks the
// client's certificate, and a dialer (ClientConfig, ClientConfigFor) checks
// the server's chain against the CA, not its host name, since servers are
// dialled by IP. PeerConfig is one config for both ends, as Raft's stream
// layer wants it. Every refusal is logged as one line ("tls peer refused")
// with the reason, the remote address and the identity the peer claimed,
// and the handshake fails with that reason, which wraps one of the
// package's errors. PeerIdentity reads the peer's identity after the
// handshake, e.g. in a gRPC interceptor.
//
// Files on disk are PEM: ca.pem and ca-key.pem for the CA,
// "<region>-<role>[-<name>].pem" and "...-key.pem" for a party. Keys are
// ECDSA P-256, written 0600; existing files are never overwritten. Dev makes
// a CA and two certificates for `codeint dev` and reuses them afterwards.
//
// The package holds no mutable state. A Bundle is immutable once loaded and
// safe for concurrent use; so are the configs it builds.
package tlsutil
