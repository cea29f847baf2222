package store

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/command"
)

// tlsCluster starts ids over mutual TLS with certificates from ca.
func tlsCluster(t *testing.T, ca *testCA, ids ...string) []*Store {
	t.Helper()
	cfgs := make([]Config, len(ids))
	for i, id := range ids {
		cfgs[i] = tcpConfig(id, t.TempDir())
		cfgs[i].TLS = ca.tlsConfig(t, id)
	}
	return startCluster(t, cfgs...)
}

func TestTLSClusterReplicates(t *testing.T) {
	ca := newTestCA(t, "region-a")
	stores := tlsCluster(t, ca, "s1", "s2", "s3")
	index := sandboxIndex(t, mustApply(t, stores[0], command.SandboxCreate, create("sb_tls")))
	for _, s := range stores[1:] {
		waitIndex(t, s, index)
		if s.State().Snapshot().SandboxByID("sb_tls") == nil {
			t.Fatalf("%s lacks the sandbox", s.NodeID())
		}
	}

	// The Raft port speaks TLS and presents the server's own certificate.
	conn, err := tls.Dial("tcp", stores[1].Addr(), ca.tlsConfig(t, "probe"))
	if err != nil {
		t.Fatalf("TLS dial to the Raft port: %v", err)
	}
	defer conn.Close()
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "s2" {
		t.Fatalf("s2 presents %q", cn)
	}
}

// TestTLSRefusesServerFromOtherCA: a server whose certificate another CA
// signed never receives the log, and the cluster goes on without it.
func TestTLSRefusesServerFromOtherCA(t *testing.T) {
	good, other := newTestCA(t, "region-a"), newTestCA(t, "intruder")
	stores := tlsCluster(t, good, "s1", "s2")
	leader := stores[0]

	failed := make(chan raft.Observation, 1)
	obs := raft.NewObserver(failed, false, func(o *raft.Observation) bool {
		fh, ok := o.Data.(raft.FailedHeartbeatObservation)
		return ok && fh.PeerID == "bad"
	})
	leader.raft.RegisterObserver(obs)
	defer leader.raft.DeregisterObserver(obs)

	cfg := tcpConfig("bad", t.TempDir())
	cfg.TLS = other.tlsConfig(t, "bad")
	bad := startStore(t, cfg)
	// The configuration change commits with the two good voters; the
	// leader then cannot open a connection to the new one.
	if err := leader.Join("bad", bad.Addr()); err != nil {
		t.Logf("Join refused: %v", err)
	}
	select {
	case <-failed:
	case <-time.After(waitTimeout):
		t.Fatal("the leader never failed to reach the server from another CA")
	}

	index := sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create("sb_after")))
	waitIndex(t, stores[1], index)
	if got := raftStat(t, bad, "last_log_index"); got != 0 || bad.State().Index() != 0 || bad.LeaderID() != "" {
		t.Fatalf("the server from another CA got log up to %d, state at %d, leader %q", got, bad.State().Index(), bad.LeaderID())
	}
	if err := leader.Remove("bad"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	index = sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create("sb_later")))
	waitIndex(t, stores[1], index)
}

// TestTLSStreamLayerRefusesStrangers dials a server's Raft port directly:
// only a client with a certificate of the region's CA gets through.
func TestTLSStreamLayerRefusesStrangers(t *testing.T) {
	good, other := newTestCA(t, "region-a"), newTestCA(t, "intruder")
	s := tlsCluster(t, good, "s1")[0]

	trustsGood := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: good.pool, Certificates: certs, MinVersion: tls.VersionTLS13}
	}
	tests := []struct {
		name   string
		config *tls.Config
	}{
		{"server not trusted", other.tlsConfig(t, "bad")},
		{"client certificate from another CA", trustsGood(other.leaf(t, "bad"))},
		{"no client certificate", trustsGood()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dialAndRead(s.Addr(), tt.config)
			if err == nil {
				t.Fatal("connection accepted")
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server did not refuse, it stayed silent: %v", err)
			}
		})
	}
	// Control: a certificate of the right CA completes the handshake (the
	// server then waits for an RPC).
	if err := dialAndRead(s.Addr(), good.tlsConfig(t, "s2")); err == nil {
		t.Fatal("the server sent data unasked")
	} else if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a good client was refused: %v", err)
	}
}

// dialAndRead dials addr and reads one byte. With TLS 1.3 the client
// completes its handshake before the server checks the client's
// certificate; the server's refusal shows on the first read.
func dialAndRead(addr string, config *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, config)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}

func TestNewChecksTLS(t *testing.T) {
	ca := newTestCA(t, "region-a")
	mutate := func(f func(*tls.Config)) *tls.Config {
		c := ca.tlsConfig(t, "s1")
		f(c)
		return c
	}
	tests := []struct {
		name     string
		bindAddr string
		tls      *tls.Config
		ok       bool
	}{
		{"mutual TLS", "127.0.0.1:0", ca.tlsConfig(t, "s1"), true},
		{"no client authentication", "127.0.0.1:0", mutate(func(c *tls.Config) { c.ClientAuth = tls.VerifyClientCertIfGiven }), false},
		{"no certificate", "127.0.0.1:0", mutate(func(c *tls.Config) { c.Certificates = nil }), false},
		{"no verification", "127.0.0.1:0", mutate(func(c *tls.Config) { c.InsecureSkipVerify = true }), false},
		{"in-memory transport ignores TLS", "", mutate(func(c *tls.Config) { c.ClientAuth = tls.NoClientCert }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastConfig("s1", t.TempDir())
			cfg.BindAddr, cfg.TLS = tt.bindAddr, tt.tls
			_, err := New(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
