package tlsutil

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer a slog handler and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newLog is a logger whose text lines land in the returned buffer.
func newLog() (*slog.Logger, *syncBuffer) { return newLogTo(new(syncBuffer)) }

// newLogTo is a logger whose text lines land in buf.
func newLogTo(buf *syncBuffer) (*slog.Logger, *syncBuffer) {
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// x509UnknownAuthority is the error Go's own verification returns for a
// certificate of an unknown CA, inside a *tls.CertificateVerificationError.
type x509UnknownAuthority = x509.UnknownAuthorityError

// mustCA makes a CA for clusterID in a new directory and returns the directory.
func mustCA(t *testing.T, clusterID string) string {
	t.Helper()
	dir := t.TempDir()
	if _, _, _, err := CreateCA(dir, clusterID, 0); err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	return dir
}

// mustBundle makes and loads a certificate signed by the CA in caDir.
func mustBundle(t *testing.T, caDir string, role Role, region, name string) *Bundle {
	t.Helper()
	f, err := CreateCert(CertRequest{CADir: caDir, OutDir: t.TempDir(), Role: role, Region: region, Name: name})
	if err != nil {
		t.Fatalf("CreateCert: %v", err)
	}
	b, err := Load(f)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

// mustLoadCA loads the signing CA of caDir.
func mustLoadCA(t *testing.T, caDir string) authority {
	t.Helper()
	ca, err := loadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// signed is a certificate for an agent of region r1 of ca's cluster, signed
// by ca, after mutate changed its template: a way to make certificates
// CreateCert would never make.
func signed(t *testing.T, ca authority, mutate func(*x509.Certificate)) tls.Certificate {
	t.Helper()
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{ClusterID: ca.clusterID, Role: RoleAgent, Region: "r1"}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "forged"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URL()},
	}
	mutate(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// result is what one side of a handshake saw.
type result struct {
	state tls.ConnectionState
	err   error
}

// dialer is how a test builds the client config for the address dialled.
type dialer func(addr string) *tls.Config

// codeintDialer dials with b.ClientConfigFor.
func codeintDialer(b *Bundle, log *slog.Logger, accept func(Identity) error) dialer {
	return func(addr string) *tls.Config { return b.ClientConfigFor(addr, log, accept) }
}

// rawDialer dials with a plain config that trusts any server and presents
// certs: a way to reach the server's checks whatever the client holds.
func rawDialer(certs ...tls.Certificate) dialer {
	return func(string) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: certs}
	}
}

// handshake runs one TLS connection over real TCP on 127.0.0.1 between a
// listener using srvCfg and a dialer using the config cliCfg makes. After a successful
// handshake the server sends one byte, which the client reads, so that a
// refusal by the server (which in TLS 1.3 comes after the client's
// handshake returned) reaches the client's result too.
func handshake(t *testing.T, srvCfg *tls.Config, cliCfg dialer) (srv, cli result) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvDone := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvDone <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, srvCfg)
		err = tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte{1})
		}
		srvDone <- result{state: tc.ConnectionState(), err: err}
	}()

	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cliCfg(ln.Addr().String())}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err == nil {
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = tc.Read(make([]byte, 1))
		cli = result{state: tc.ConnectionState(), err: err}
		defer tc.Close()
	} else {
		cli = result{err: err}
	}
	return <-srvDone, cli
}
