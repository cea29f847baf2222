package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestMutualTLSHandshake(t *testing.T) {
	ca := mustCA(t, "cl_test")
	server := mustBundle(t, ca, RoleServer, "r1", "s1")
	tests := []struct {
		name   string
		dialer *Bundle
		accept func(Identity) error
	}{
		{"agent dials server", mustBundle(t, ca, RoleAgent, "r1", "n1"), RequireRole(RoleAgent)},
		{"server dials server", mustBundle(t, ca, RoleServer, "r1", "s2"), All(RequireRole(RoleServer), RequireRegion("r1"))},
		{"server of another region dials server", mustBundle(t, ca, RoleServer, "r2", ""), RequireRole(RoleServer)},
		{"client without region dials server", mustBundle(t, ca, RoleClient, "", "ops"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srvLog, srvBuf := newLog()
			cliLog, cliBuf := newLog()
			// ClientConfig as most dialers use it, without the address.
			dial := func(string) *tls.Config { return tc.dialer.ClientConfig(cliLog, RequireRole(RoleServer)) }
			srv, cli := handshake(t, server.ServerConfig(srvLog, tc.accept), dial)
			if srv.err != nil || cli.err != nil {
				t.Fatalf("server: %v, client: %v\nserver log: %s\nclient log: %s", srv.err, cli.err, srvBuf, cliBuf)
			}
			got, err := PeerIdentity(srv.state)
			if err != nil || got != tc.dialer.Identity() {
				t.Errorf("server sees %+v, %v; want %+v", got, err, tc.dialer.Identity())
			}
			got, err = PeerIdentity(cli.state)
			want := Identity{ClusterID: "cl_test", Role: RoleServer, Region: "r1", Name: "s1"}
			if err != nil || got != want {
				t.Errorf("client sees %+v, %v; want %+v", got, err, want)
			}
			if srvBuf.String() != "" || cliBuf.String() != "" {
				t.Errorf("logged on success:\n%s%s", srvBuf, cliBuf)
			}
		})
	}
}

// refusal is what a test expects of a refused handshake.
type refusal struct {
	reason error    // what the refusing side's error wraps
	log    []string // what its log line holds
}

// checkRefused asserts that side refused with want and logged one line
// about it, and that the other side saw the handshake fail and logged
// nothing.
func checkRefused(t *testing.T, refuser, other result, refuserLog, otherLog *syncBuffer, want refusal) {
	t.Helper()
	if !errors.Is(refuser.err, want.reason) {
		t.Errorf("refusing side: got %v, want an error wrapping %v", refuser.err, want.reason)
	}
	if other.err == nil {
		t.Errorf("the other side's handshake succeeded")
	}
	line := refuserLog.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, `msg="tls peer refused"`) {
		t.Fatalf("want one refusal line, got %q", line)
	}
	for _, s := range append(want.log, "reason=", "remote=") {
		if !strings.Contains(line, s) {
			t.Errorf("log line %q lacks %q", line, s)
		}
	}
	if otherLog.String() != "" {
		t.Errorf("the other side logged %q", otherLog)
	}
}

func TestForeignCARefused(t *testing.T) {
	// Same cluster id, another CA: only the chain tells them apart.
	caA, caB := mustCA(t, "cl_test"), mustCA(t, "cl_test")

	t.Run("server refuses client of another CA", func(t *testing.T) {
		srvLog, srvBuf := newLog()
		srv, cli := handshake(t,
			mustBundle(t, caA, RoleServer, "r1", "").ServerConfig(srvLog, nil),
			rawDialer(mustBundle(t, caB, RoleAgent, "r1", "n1").cert))
		checkRefused(t, srv, cli, srvBuf, new(syncBuffer), refusal{ErrUnknownAuthority,
			[]string{"side=listener", "remote=127.0.0.1:", "peer=codeint://cl_test/agent/r1/n1", "unknown authority"}})
	})
	t.Run("client refuses server of another CA", func(t *testing.T) {
		srvLog, srvBuf := newLog()
		cliLog, cliBuf := newLog()
		srv, cli := handshake(t,
			mustBundle(t, caB, RoleServer, "r1", "").ServerConfig(srvLog, nil),
			codeintDialer(mustBundle(t, caA, RoleAgent, "r1", "n1"), cliLog, nil))
		checkRefused(t, cli, srv, cliBuf, srvBuf, refusal{ErrUnknownAuthority,
			[]string{"side=dialer", "remote=127.0.0.1:", "peer=codeint://cl_test/server/r1", "unknown authority"}})
	})
	t.Run("client refuses a self-signed server certificate", func(t *testing.T) {
		// An impostor copies the server's identity into a certificate of
		// its own: InsecureSkipVerify must not let it through.
		impostorCA := mustLoadCA(t, mustCA(t, "cl_test"))
		cert := signed(t, impostorCA, func(c *x509.Certificate) {
			c.URIs = []*url.URL{Identity{ClusterID: "cl_test", Role: RoleServer, Region: "r1"}.URL()}
		})
		cliLog, cliBuf := newLog()
		srv, cli := handshake(t,
			&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
			codeintDialer(mustBundle(t, caA, RoleAgent, "r1", ""), cliLog, nil))
		checkRefused(t, cli, srv, cliBuf, new(syncBuffer), refusal{ErrUnknownAuthority, []string{"side=dialer"}})
	})
}

func TestWrongClusterRefused(t *testing.T) {
	// Two CAs in the same file layout, of two clusters.
	caA, caB := mustCA(t, "cl_a"), mustCA(t, "cl_b")
	t.Run("server refuses agent of another cluster", func(t *testing.T) {
		srvLog, srvBuf := newLog()
		srv, cli := handshake(t,
			mustBundle(t, caA, RoleServer, "r1", "").ServerConfig(srvLog, nil),
			rawDialer(mustBundle(t, caB, RoleAgent, "r1", "").cert))
		checkRefused(t, srv, cli, srvBuf, new(syncBuffer), refusal{ErrWrongCluster,
			[]string{"another cluster", `\"cl_b\"`, "peer=codeint://cl_b/agent/r1"}})
	})
	t.Run("client refuses server of another cluster", func(t *testing.T) {
		srvLog, srvBuf := newLog()
		cliLog, cliBuf := newLog()
		srv, cli := handshake(t,
			mustBundle(t, caB, RoleServer, "r1", "").ServerConfig(srvLog, nil),
			codeintDialer(mustBundle(t, caA, RoleAgent, "r1", ""), cliLog, nil))
		checkRefused(t, cli, srv, cliBuf, srvBuf, refusal{ErrWrongCluster, []string{"another cluster", "peer=codeint://cl_b/server/r1"}})
	})
	t.Run("server refuses its own CA's certificate naming another cluster", func(t *testing.T) {
		// The chain verifies; only the cluster check stops it.
		cert := signed(t, mustLoadCA(t, caA), func(c *x509.Certificate) {
			c.URIs = []*url.URL{Identity{ClusterID: "cl_b", Role: RoleServer, Region: "r1"}.URL()}
		})
		srvLog, srvBuf := newLog()
		srv, cli := handshake(t,
			mustBundle(t, caA, RoleServer, "r1", "").ServerConfig(srvLog, nil),
			rawDialer(cert))
		checkRefused(t, srv, cli, srvBuf, new(syncBuffer), refusal{ErrWrongCluster, []string{"peer=codeint://cl_b/server/r1"}})
	})
}

func TestServerRefusesBadClientCertificates(t *testing.T) {
	ca := mustCA(t, "cl_test")
	signer := mustLoadCA(t, ca)
	tests := []struct {
		name  string
		certs []tls.Certificate
		want  refusal
	}{
		{"no certificate", nil, refusal{ErrNoIdentity, []string{"no certificate"}}},
		{"no identity", []tls.Certificate{signed(t, signer, func(c *x509.Certificate) { c.URIs = nil })},
			refusal{ErrNoIdentity, []string{"no codeint:// URI SAN"}}},
		{"two identities", []tls.Certificate{signed(t, signer, func(c *x509.Certificate) {
			c.URIs = append(c.URIs, Identity{ClusterID: "cl_test", Role: RoleServer, Region: "r1"}.URL())
		})}, refusal{ErrNoIdentity, []string{"2 codeint:// URI SANs"}}},
		{"server-only key usage", []tls.Certificate{signed(t, signer, func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		})}, refusal{ErrUnknownAuthority, []string{"peer=codeint://cl_test/agent/r1", "key usage"}}},
		{"expired", []tls.Certificate{signed(t, signer, func(c *x509.Certificate) {
			c.NotAfter = c.NotBefore.Add(30 * time.Minute)
		})}, refusal{ErrUnknownAuthority, []string{"expired"}}},
	}
	server := mustBundle(t, ca, RoleServer, "r1", "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srvLog, srvBuf := newLog()
			srv, cli := handshake(t, server.ServerConfig(srvLog, nil), rawDialer(tc.certs...))
			checkRefused(t, srv, cli, srvBuf, new(syncBuffer), tc.want)
		})
	}
}

func TestAcceptHook(t *testing.T) {
	ca := mustCA(t, "cl_test")
	server := mustBundle(t, ca, RoleServer, "r1", "")
	onlyServersOfR1 := All(RequireRole(RoleServer), RequireRegion("r1"))
	tests := []struct {
		name   string
		dialer *Bundle
		want   refusal // zero: accepted
	}{
		{"server of r1 accepted", mustBundle(t, ca, RoleServer, "r1", "s2"), refusal{}},
		{"agent refused", mustBundle(t, ca, RoleAgent, "r1", "n1"),
			refusal{ErrRefused, []string{"role agent not admitted", "peer=codeint://cl_test/agent/r1/n1"}}},
		{"server of r2 refused", mustBundle(t, ca, RoleServer, "r2", ""),
			refusal{ErrRefused, []string{`region \"r2\" not admitted`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srvLog, srvBuf := newLog()
			cliLog, cliBuf := newLog()
			srv, cli := handshake(t, server.ServerConfig(srvLog, onlyServersOfR1), codeintDialer(tc.dialer, cliLog, nil))
			if tc.want.reason == nil {
				if srv.err != nil || cli.err != nil {
					t.Fatalf("server: %v, client: %v", srv.err, cli.err)
				}
				return
			}
			checkRefused(t, srv, cli, srvBuf, cliBuf, tc.want)
		})
	}

	t.Run("client-side hook", func(t *testing.T) {
		agentLog, agentBuf := newLog()
		srv, cli := handshake(t,
			mustBundle(t, ca, RoleAgent, "r1", "").ServerConfig(nil, nil),
			codeintDialer(server, agentLog, RequireRole(RoleServer)))
		checkRefused(t, cli, srv, agentBuf, new(syncBuffer), refusal{ErrRefused, []string{"role agent not admitted"}})
	})
	t.Run("hook error that already wraps ErrRefused", func(t *testing.T) {
		hookErr := errors.Join(ErrRefused, errors.New("drained"))
		srvLog, srvBuf := newLog()
		srv, cli := handshake(t, server.ServerConfig(srvLog, func(Identity) error { return hookErr }),
			codeintDialer(mustBundle(t, ca, RoleServer, "r1", "s3"), nil, nil))
		checkRefused(t, srv, cli, srvBuf, new(syncBuffer), refusal{hookErr, []string{"drained"}})
		if strings.Count(srv.err.Error(), ErrRefused.Error()) != 1 {
			t.Errorf("ErrRefused said twice: %v", srv.err)
		}
	})
}

func TestPeerIdentityNeedsCompleteHandshake(t *testing.T) {
	ca := mustCA(t, "cl_test")
	b := mustBundle(t, ca, RoleServer, "r1", "")
	if _, err := PeerIdentity(tls.ConnectionState{PeerCertificates: []*x509.Certificate{b.Certificate()}}); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("incomplete handshake: %v", err)
	}
	if _, err := PeerIdentity(tls.ConnectionState{HandshakeComplete: true}); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("no certificate: %v", err)
	}
}
