package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// Bundle is a loaded certificate with its CA and own identity. It is
// immutable and safe for concurrent use.
type Bundle struct {
	files Files
	cert  tls.Certificate // the party's chain and key; Leaf is set
	pool  *x509.CertPool  // every CA certificate of Files.CA
	id    Identity        // what the party's certificate says
}

// Load reads a party's files: the CA file (one or more CA certificates,
// e.g. during a CA rotation), the certificate and its key. It checks that
// the certificate verifies against the CA, carries an identity, and names
// the cluster of the CA that signed it.
func Load(f Files) (*Bundle, error) {
	cas, err := readCerts(f.CA)
	if err != nil {
		return nil, fmt.Errorf("load tls bundle: %w", err)
	}
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load tls bundle: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("load tls bundle: %s: %w", f.Cert, err)
		}
	}
	id, err := IdentityFromCert(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("load tls bundle: %s: %w", f.Cert, err)
	}
	chains, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("load tls bundle: %s against %s: %w: %w", f.Cert, f.CA, ErrUnknownAuthority, err)
	}
	root := chains[0][len(chains[0])-1]
	if caID, err := caClusterID(root); err != nil || caID != id.ClusterID {
		return nil, fmt.Errorf("load tls bundle: %s names cluster %q but its CA %q does not: %w", f.Cert, id.ClusterID, root.Subject.CommonName, ErrWrongCluster)
	}
	return &Bundle{files: f, cert: cert, pool: pool, id: id}, nil
}

// Identity is what the bundle's own certificate says.
func (b *Bundle) Identity() Identity { return b.id }

// Files are the files the bundle was loaded from.
func (b *Bundle) Files() Files { return b.files }

// Certificate is the bundle's own (leaf) certificate, e.g. for its expiry.
// The caller must not modify it.
func (b *Bundle) Certificate() *x509.Certificate { return b.cert.Leaf }
