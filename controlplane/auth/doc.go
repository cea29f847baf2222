// Package auth authenticates callers. It owns the API key format (a "ci_"
// prefix and 40 random base62 characters), the hashing of keys (only the
// SHA-256 of a key is ever stored), the parsing of "Authorization: Bearer"
// headers, the lookup of a key in the replicated state (Authenticator), and
// the bootstrap of the first admin key.
//
// The result of authentication is a Principal, carried in the request
// context (WithPrincipal, FromContext).
//
// The package holds no mutable state; an Authenticator is safe for
// concurrent use.
package auth
