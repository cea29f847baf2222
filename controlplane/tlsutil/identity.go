package tlsutil

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Role is what a party is in the cluster.
type Role string

// The roles a certificate can carry.
const (
	RoleServer Role = "server" // a control-plane server (Raft, server gRPC)
	RoleAgent  Role = "agent"  // a node agent
	RoleClient Role = "client" // a tool or service that only dials
)

// valid reports whether r is one of the known roles.
func (r Role) valid() bool { return r == RoleServer || r == RoleAgent || r == RoleClient }

// uriScheme is the scheme of the identity URI SAN.
const uriScheme = "codeint"

// Identity is what a certificate says about its holder; it is encoded as a
// URI SAN "codeint://<clusterID>/<role>/<region>" (+ "/<name>" when a name
// was given). Region may be empty only for RoleClient.
type Identity struct {
	ClusterID string
	Role      Role
	Region    string
	Name      string
}

// URL is the identity as the URI SAN a certificate carries.
func (id Identity) URL() *url.URL {
	path := "/" + string(id.Role) + "/" + id.Region
	if id.Name != "" {
		path += "/" + id.Name
	}
	return &url.URL{Scheme: uriScheme, Host: id.ClusterID, Path: path}
}

// String is the identity's URI, e.g. "codeint://cl_x/server/eu-1/node-1".
func (id Identity) String() string { return id.URL().String() }

// validate checks every part of the identity; the error wraps ErrInvalid.
func (id Identity) validate() error {
	if err := checkClusterID(id.ClusterID); err != nil {
		return err
	}
	if !id.Role.valid() {
		return fmt.Errorf("%w: role %q (want server, agent or client)", ErrInvalid, id.Role)
	}
	if id.Region == "" && id.Role != RoleClient {
		return fmt.Errorf("%w: a %s certificate needs a region", ErrInvalid, id.Role)
	}
	if id.Region != "" {
		if err := checkLabel("region", id.Region); err != nil {
			return err
		}
	}
	if id.Name != "" {
		if err := checkLabel("name", id.Name); err != nil {
			return err
		}
	}
	return nil
}

// IdentityFromCert reads the identity a certificate carries. The
// certificate must hold exactly one codeint URI SAN, and it must be well
// formed; the error wraps ErrNoIdentity otherwise. It does not verify the
// certificate.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	var found []*url.URL
	for _, u := range cert.URIs {
		if u.Scheme == uriScheme {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return Identity{}, fmt.Errorf("%w: certificate %q has no %s:// URI SAN", ErrNoIdentity, cert.Subject.CommonName, uriScheme)
	case 1:
	default:
		return Identity{}, fmt.Errorf("%w: certificate %q has %d %s:// URI SANs", ErrNoIdentity, cert.Subject.CommonName, len(found), uriScheme)
	}
	return parseIdentity(found[0])
}

// parseIdentity decodes a codeint:// URI; the error wraps ErrNoIdentity.
func parseIdentity(u *url.URL) (Identity, error) {
	if u.Scheme != uriScheme || u.User != nil || u.Port() != "" || u.RawPath != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Identity{}, fmt.Errorf("%w: malformed identity %q", ErrNoIdentity, u)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if !strings.HasPrefix(u.Path, "/") || len(parts) < 2 || len(parts) > 3 {
		return Identity{}, fmt.Errorf("%w: identity %q is not %s://<cluster>/<role>/<region>[/<name>]", ErrNoIdentity, u, uriScheme)
	}
	id := Identity{ClusterID: u.Host, Role: Role(parts[0]), Region: parts[1]}
	if len(parts) == 3 {
		id.Name = parts[2]
		if id.Name == "" {
			return Identity{}, fmt.Errorf("%w: identity %q has an empty name", ErrNoIdentity, u)
		}
	}
	if err := id.validate(); err != nil {
		return Identity{}, fmt.Errorf("%w: identity %q: %w", ErrNoIdentity, u, err)
	}
	if id.String() != u.String() {
		return Identity{}, fmt.Errorf("%w: identity %q is not in canonical form", ErrNoIdentity, u)
	}
	return id, nil
}

// checkClusterID accepts 1 to 63 letters, digits, '_' and '-': the id is the
// host part of the identity URI.
func checkClusterID(id string) error {
	if id == "" || len(id) > 63 {
		return fmt.Errorf("%w: cluster id %q must have 1 to 63 characters", ErrInvalid, id)
	}
	for _, c := range id {
		if !isAlnum(c) && c != '_' && c != '-' {
			return fmt.Errorf("%w: cluster id %q: only letters, digits, '_' and '-'", ErrInvalid, id)
		}
	}
	return nil
}

// checkLabel accepts 1 to 63 letters, digits, '_', '-' and '.', starting
// with a letter or digit: regions and names go into URIs and file names.
func checkLabel(what, s string) error {
	if s == "" || len(s) > 63 || !isAlnum(rune(s[0])) {
		return fmt.Errorf("%w: %s %q must have 1 to 63 characters and start with a letter or digit", ErrInvalid, what, s)
	}
	for _, c := range s {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return fmt.Errorf("%w: %s %q: only letters, digits, '_', '-' and '.'", ErrInvalid, what, s)
		}
	}
	return nil
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// RequireRole is an accept hook that admits only peers of the given roles.
func RequireRole(roles ...Role) func(Identity) error {
	return func(id Identity) error {
		if slices.Contains(roles, id.Role) {
			return nil
		}
		return fmt.Errorf("role %s not admitted here (want %v)", id.Role, roles)
	}
}

// RequireRegion is an accept hook that admits only peers of region r.
func RequireRegion(r string) func(Identity) error {
	return func(id Identity) error {
		if id.Region == r {
			return nil
		}
		return fmt.Errorf("region %q not admitted here (want %q)", id.Region, r)
	}
}

// RequireServerOf is an accept hook that admits only servers of region r,
// e.g. for the Raft and server-to-server listeners of a region.
func RequireServerOf(r string) func(Identity) error {
	return All(RequireRole(RoleServer), RequireRegion(r))
}

// All is an accept hook that admits a peer when every hook does; it returns
// the first refusal.
func All(hooks ...func(Identity) error) func(Identity) error {
	return func(id Identity) error {
		for _, h := range hooks {
			if err := h(id); err != nil {
				return err
			}
		}
		return nil
	}
}
