package tlsutil

import "errors"

// Errors of the package. A refused handshake fails with an error wrapping one
// of the first four, so errors.Is works on the handshake error and the same
// reason is logged.
var (
	// ErrWrongCluster: the peer's certificate names another cluster id.
	ErrWrongCluster = errors.New("tlsutil: peer belongs to another cluster")
	// ErrUnknownAuthority: the peer's certificate does not verify against
	// the cluster CA (another signer, expired, or not meant for this use).
	ErrUnknownAuthority = errors.New("tlsutil: certificate does not verify against the cluster CA")
	// ErrNoIdentity: the peer sent no certificate, or one without a valid
	// codeint identity.
	ErrNoIdentity = errors.New("tlsutil: no codeint identity")
	// ErrRefused: the accept hook refused the peer's identity; the hook's
	// own error is wrapped too.
	ErrRefused = errors.New("tlsutil: peer refused")
	// ErrInvalid: a bad argument to CreateCA or CreateCert (a role, a
	// region, a name or a cluster id that cannot be used).
	ErrInvalid = errors.New("tlsutil: invalid argument")
)
