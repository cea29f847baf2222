package auth

import "context"

// Principal is the authenticated caller: the team and the key it used.
type Principal struct {
	TeamID    string
	TeamName  string
	KeyID     string
	KeyName   string
	KeyPrefix string
	Admin     bool
}

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the context carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
