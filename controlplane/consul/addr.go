package consul

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Scheme is the URL scheme of a Consul address on the command line.
const Scheme = "consul"

// Config says how to reach Consul's HTTP API.
type Config struct {
	// Address is the HOST:PORT of a Consul agent's HTTP API (plain HTTP).
	Address string
	// Token is the ACL token sent with every request. Empty means the
	// api client's default: the CONSUL_HTTP_TOKEN(_FILE) environment, or
	// the anonymous token.
	Token string
	// Datacenter selects the Consul datacenter to query. Empty means the
	// agent's own datacenter.
	Datacenter string
}

// ParseAddr parses a Consul address as given to --join or --servers:
// "consul://HOST:PORT", optionally followed by "?token=T&dc=D".
//
// ok reports whether s is meant as a Consul address. A string without
// "://" (a plain HOST:PORT list, say) gives ok=false and no error, so the
// caller can treat it some other way. A string with a scheme other than
// consul gives ok=false and an error wrapping ErrBadAddr, since it is
// usable as neither. A consul:// string that is malformed (no port, a
// path, an unknown parameter, …) gives ok=true and an error wrapping
// ErrBadAddr.
func ParseAddr(s string) (cfg Config, ok bool, err error) {
	scheme, _, found := strings.Cut(s, "://")
	if !found {
		if strings.HasPrefix(strings.ToLower(s), Scheme+":") {
			return Config{}, true, fmt.Errorf("%w: %q: want consul://HOST:PORT", ErrBadAddr, s)
		}
		return Config{}, false, nil
	}
	if !strings.EqualFold(scheme, Scheme) {
		return Config{}, false, fmt.Errorf("%w: scheme %q in %q: want consul://HOST:PORT", ErrBadAddr, scheme, s)
	}
	cfg, err = parseConsulURL(s)
	return cfg, true, err
}

func parseConsulURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrBadAddr, err)
	}
	switch {
	case u.User != nil:
		return Config{}, fmt.Errorf("%w: %q: pass the token as ?token=, not in the user part", ErrBadAddr, s)
	case u.Path != "" && u.Path != "/":
		return Config{}, fmt.Errorf("%w: %q: unexpected path %q", ErrBadAddr, s, u.Path)
	case u.Fragment != "":
		return Config{}, fmt.Errorf("%w: %q: unexpected fragment", ErrBadAddr, s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %q: %w", ErrBadAddr, s, err)
	}
	if host == "" {
		return Config{}, fmt.Errorf("%w: %q: missing host", ErrBadAddr, s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Config{}, fmt.Errorf("%w: %q: bad port %q", ErrBadAddr, s, port)
	}
	cfg := Config{Address: net.JoinHostPort(host, port)}
	for key, vals := range u.Query() {
		if len(vals) != 1 || vals[0] == "" {
			return Config{}, fmt.Errorf("%w: %q: parameter %q wants one non-empty value", ErrBadAddr, s, key)
		}
		switch key {
		case "token":
			cfg.Token = vals[0]
		case "dc":
			cfg.Datacenter = vals[0]
		default:
			return Config{}, fmt.Errorf("%w: %q: unknown parameter %q (want token, dc)", ErrBadAddr, s, key)
		}
	}
	return cfg, nil
}
