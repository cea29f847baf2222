package tlsutil

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The file names of the CA inside its directory.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

// defaultCAValidity is the CA lifetime when CreateCA is given 0.
const defaultCAValidity = 10 * 365 * 24 * time.Hour

// backdate is how far before now certificates start to be valid, to
// tolerate clocks a little behind.
const backdate = 5 * time.Minute

// CreateCA writes dir/ca.pem and dir/ca-key.pem (0600), a new ECDSA P-256
// CA whose subject names the cluster id (a random id such as "cl_..." when
// clusterID is ""). dir is created (0700) if missing; validity 0 means ten
// years. It refuses to overwrite existing files (error wrapping
// fs.ErrExist).
func CreateCA(dir, clusterID string, validity time.Duration) (caCert, caKey string, clusterIDOut string, err error) {
	if clusterID == "" {
		if clusterID, err = newClusterID(); err != nil {
			return "", "", "", err
		}
	}
	if err := checkClusterID(clusterID); err != nil {
		return "", "", "", err
	}
	if validity < 0 {
		return "", "", "", fmt.Errorf("%w: negative validity %v", ErrInvalid, validity)
	}
	if validity == 0 {
		validity = defaultCAValidity
	}
	caCert, caKey = filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", fmt.Errorf("create CA: %w", err)
	}
	if err := refuseExisting(caCert, caKey); err != nil {
		return "", "", "", fmt.Errorf("create CA: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return "", "", "", fmt.Errorf("create CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return "", "", "", fmt.Errorf("create CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         "codeint CA " + clusterID,
			Organization:       []string{"codeint"},
			OrganizationalUnit: []string{clusterID},
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", "", fmt.Errorf("create CA: sign: %w", err)
	}
	if err := writePair(caCert, caKey, der, key); err != nil {
		return "", "", "", fmt.Errorf("create CA: %w", err)
	}
	return caCert, caKey, clusterID, nil
}

// newClusterID is "cl_" and 16 random base32 characters (80 bits).
func newClusterID() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster id: %w", err)
	}
	return "cl_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// authority is a loaded CA that can sign: its certificate, key and cluster id.
type authority struct {
	cert      *x509.Certificate
	key       *ecdsa.PrivateKey
	clusterID string
}

// loadCA reads dir/ca.pem (its first certificate signs) and dir/ca-key.pem.
func loadCA(dir string) (authority, error) {
	certs, err := readCerts(filepath.Join(dir, caCertFile))
	if err != nil {
		return authority{}, fmt.Errorf("load CA: %w", err)
	}
	key, err := readKey(filepath.Join(dir, caKeyFile))
	if err != nil {
		return authority{}, fmt.Errorf("load CA: %w", err)
	}
	ca := authority{cert: certs[0], key: key}
	if !ca.cert.IsCA {
		return authority{}, fmt.Errorf("load CA: %s in %s is not a CA certificate", ca.cert.Subject, dir)
	}
	if !key.PublicKey.Equal(ca.cert.PublicKey) {
		return authority{}, fmt.Errorf("load CA: %s does not match the key in %s", caCertFile, caKeyFile)
	}
	if ca.clusterID, err = caClusterID(ca.cert); err != nil {
		return authority{}, fmt.Errorf("load CA: %w", err)
	}
	return ca, nil
}

// caClusterID reads the cluster id a CA's subject names.
func caClusterID(ca *x509.Certificate) (string, error) {
	if len(ca.Subject.OrganizationalUnit) != 1 {
		return "", fmt.Errorf("CA %q does not name a cluster id", ca.Subject.CommonName)
	}
	id := ca.Subject.OrganizationalUnit[0]
	return id, checkClusterID(id)
}
