// Package apperr defines the error codes every layer of codeint speaks, from
// the state store to the GraphQL API (extensions.code).
//
// An error carries a Code and a sentence a person understands. Layers wrap
// errors with %w; Code(err) finds the code anywhere in the chain, and
// errors.Is(err, apperr.ErrNotFound) matches by code. Safe for concurrent use.
package apperr
