package consul

import "errors"

// Errors returned by this package; test with errors.Is.
var (
	// ErrBadAddr reports a malformed Consul address.
	ErrBadAddr = errors.New("consul: bad address")
	// ErrInvalidService reports a Service that cannot be registered.
	ErrInvalidService = errors.New("consul: invalid service")
	// ErrUnknownService reports a deregistration of a service id the
	// Consul agent does not know.
	ErrUnknownService = errors.New("consul: unknown service id")
)
