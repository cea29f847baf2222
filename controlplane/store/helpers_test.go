package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// waitTimeout bounds every wait for the cluster to converge.
const waitTimeout = 15 * time.Second

// tcpConfig is fastConfig on a free loopback port.
func tcpConfig(id, dir string) Config {
	cfg := fastConfig(id, dir)
	cfg.BindAddr = "127.0.0.1:0"
	return cfg
}

// startStore opens a store that neither bootstraps nor joins; it is closed
// when the test ends.
func startStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New %s: %v", cfg.NodeID, err)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("Open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startCluster starts one server per config over TCP: the first
// bootstraps and leads, the others join it.
func startCluster(t testing.TB, cfgs ...Config) []*Store {
	t.Helper()
	stores := make([]*Store, len(cfgs))
	for i, cfg := range cfgs {
		s := startStore(t, cfg)
		if i == 0 {
			if err := s.Bootstrap(); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitForLeader(waitTimeout); err != nil {
				t.Fatal(err)
			}
		} else if err := stores[0].Join(cfg.NodeID, s.Addr()); err != nil {
			t.Fatalf("Join %s: %v", cfg.NodeID, err)
		}
		stores[i] = s
	}
	return stores
}

// startTCPCluster starts a cluster of servers s1..sn with fast timeouts.
func startTCPCluster(t testing.TB, n int) []*Store {
	t.Helper()
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = tcpConfig("s"+strconv.Itoa(i+1), t.TempDir())
	}
	return startCluster(t, cfgs...)
}

// waitFor polls cond until it holds, or fails the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitIndex waits until s's state has applied index.
func waitIndex(t testing.TB, s *Store, index uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := s.State().WaitForIndex(ctx, index); err != nil {
		t.Fatalf("%s did not apply index %d (at %d): %v", s.NodeID(), index, s.State().Index(), err)
	}
}

// mustHash returns s's state hash.
func mustHash(t testing.TB, s *Store) (uint64, string) {
	t.Helper()
	index, sum, err := s.StateHash()
	if err != nil {
		t.Fatalf("StateHash %s: %v", s.NodeID(), err)
	}
	return index, sum
}

// waitSameState waits until every store reports the hash sum at index.
func waitSameState(t testing.TB, index uint64, sum string, stores ...*Store) {
	t.Helper()
	for _, s := range stores {
		waitFor(t, s.NodeID()+" to reach the expected state", func() bool {
			i, got := mustHash(t, s)
			return i == index && got == sum
		})
	}
}

// raftStat reads one of Raft's numeric stats.
func raftStat(t testing.TB, s *Store, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s.raft.Stats()[key], 10, 64)
	if err != nil {
		t.Fatalf("stat %s: %v", key, err)
	}
	return v
}

// createMany creates sandboxes prefix-000… and returns the last index.
func createMany(t testing.TB, s *Store, prefix string, n int) uint64 {
	t.Helper()
	var index uint64
	for i := range n {
		resp := mustApply(t, s, command.SandboxCreate, create(prefix+"-"+strconv.Itoa(1000 + i)[1:]))
		index = sandboxIndex(t, resp)
	}
	return index
}

// sandboxIndex is the ModifyIndex of a sandbox returned by Apply.
func sandboxIndex(t testing.TB, resp any) uint64 {
	t.Helper()
	sb, ok := resp.(*structs.Sandbox)
	if !ok {
		t.Fatalf("Apply returned %T, want a sandbox", resp)
	}
	return sb.ModifyIndex
}

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a server-and-client certificate for 127.0.0.1.
func (ca *testCA) leaf(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsConfig is a mutual-TLS config for server name, trusting only ca.
func (ca *testCA) tlsConfig(t testing.TB, name string) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{ca.leaf(t, name)},
		RootCAs:      ca.pool,
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}
