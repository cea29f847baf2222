package tlsutil

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// defaultCertValidity is a certificate's lifetime when the request says 0.
const defaultCertValidity = 365 * 24 * time.Hour

// Files names the PEM files of one party.
type Files struct{ CA, Cert, Key string }

// CertRequest asks CreateCert for one party's certificate.
type CertRequest struct {
	CADir    string        // where ca.pem and ca-key.pem are
	OutDir   string        // where to write; "" = CADir
	Role     Role          // server, agent or client
	Region   string        // required for server and agent
	Name     string        // optional (node id); part of the file name and the identity
	DNSNames []string      // added to "<role>.<region>.codeint" and "localhost"
	IPs      []net.IP      // added to 127.0.0.1 and ::1
	Validity time.Duration // 0 = 1 year; never past the CA's own expiry
}

// CreateCert writes "<region>-<role>[-<name>].pem" and "...-key.pem" (0600)
// signed by the CA, usable as both TLS server and client certificate
// (ExtKeyUsage ServerAuth+ClientAuth), and returns the Files (CA =
// CADir/ca.pem). A client without a region is written "client[-<name>].pem".
// It refuses to overwrite existing files (error wrapping fs.ErrExist); bad
// requests fail with an error wrapping ErrInvalid.
func CreateCert(req CertRequest) (Files, error) {
	if req.Validity < 0 {
		return Files{}, fmt.Errorf("%w: negative validity %v", ErrInvalid, req.Validity)
	}
	ca, err := loadCA(req.CADir)
	if err != nil {
		return Files{}, err
	}
	id := Identity{ClusterID: ca.clusterID, Role: req.Role, Region: req.Region, Name: req.Name}
	if err := id.validate(); err != nil {
		return Files{}, err
	}
	out := req.OutDir
	if out == "" {
		out = req.CADir
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return Files{}, fmt.Errorf("create cert: %w", err)
	}
	base := filepath.Join(out, fileBase(id))
	f := Files{CA: filepath.Join(req.CADir, caCertFile), Cert: base + ".pem", Key: base + "-key.pem"}
	if err := refuseExisting(f.Cert, f.Key); err != nil {
		return Files{}, fmt.Errorf("create cert: %w", err)
	}
	der, key, err := issue(ca, id, req.DNSNames, req.IPs, req.Validity)
	if err != nil {
		return Files{}, fmt.Errorf("create cert %s: %w", id, err)
	}
	if err := writePair(f.Cert, f.Key, der, key); err != nil {
		return Files{}, fmt.Errorf("create cert: %w", err)
	}
	return f, nil
}

// fileBase is "<region>-<role>[-<name>]" without the empty parts.
func fileBase(id Identity) string {
	parts := []string{id.Region, string(id.Role), id.Name}
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "-")
}

// defaultDNSName is "<role>.<region>.codeint" ("<role>.codeint" without a
// region).
func defaultDNSName(id Identity) string {
	if id.Region == "" {
		return string(id.Role) + ".codeint"
	}
	return string(id.Role) + "." + id.Region + ".codeint"
}

// issue makes a key and a certificate for id signed by ca, with the default
// and extra DNS names and IPs. It trusts id to be valid.
func issue(ca authority, id Identity, dns []string, ips []net.IP, validity time.Duration) ([]byte, *ecdsa.PrivateKey, error) {
	if validity == 0 {
		validity = defaultCertValidity
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, nil, fmt.Errorf("the CA expired at %s", ca.cert.NotAfter.Format(time.RFC3339))
	}
	allIPs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, ip := range ips {
		if ip == nil {
			return nil, nil, fmt.Errorf("%w: a nil IP address", ErrInvalid)
		}
		if !slices.ContainsFunc(allIPs, ip.Equal) {
			allIPs = append(allIPs, ip)
		}
	}
	allDNS := []string{defaultDNSName(id), "localhost"}
	for _, d := range dns {
		if d == "" {
			return nil, nil, fmt.Errorf("%w: an empty DNS name", ErrInvalid)
		}
		if !slices.Contains(allDNS, d) {
			allDNS = append(allDNS, d)
		}
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: defaultDNSName(id), Organization: []string{"codeint"}, OrganizationalUnit: []string{id.ClusterID}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              allDNS,
		IPAddresses:           allIPs,
		URIs:                  []*url.URL{id.URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: %w", err)
	}
	return der, key, nil
}
