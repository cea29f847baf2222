package tlsutil

import (
	"crypto/tls"
	"errors"
	"testing"
)

// TestPeerConfig uses one config on both ends of each connection, as
// Raft's stream layer does with tls.Listen and tls.Dial.
func TestPeerConfig(t *testing.T) {
	ca, other := mustCA(t, "cl_test"), mustCA(t, "cl_test")
	s1 := mustBundle(t, ca, RoleServer, "r1", "s1")
	s2 := mustBundle(t, ca, RoleServer, "r1", "s2")
	peer := func(b *Bundle, log *syncBuffer, accept func(Identity) error) *tls.Config {
		if log == nil {
			return b.PeerConfig(nil, accept)
		}
		l, _ := newLogTo(log)
		return b.PeerConfig(l, accept)
	}

	t.Run("the standard checks are on", func(t *testing.T) {
		cfg := s1.PeerConfig(nil, nil)
		if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.InsecureSkipVerify || cfg.RootCAs == nil {
			t.Errorf("ClientAuth %v, InsecureSkipVerify %v, RootCAs %v", cfg.ClientAuth, cfg.InsecureSkipVerify, cfg.RootCAs)
		}
	})
	t.Run("servers of a region", func(t *testing.T) {
		logs := new(syncBuffer)
		srv, cli := handshake(t, peer(s1, logs, RequireServerOf("r1")),
			func(string) *tls.Config { return peer(s2, logs, RequireServerOf("r1")) })
		if srv.err != nil || cli.err != nil {
			t.Fatalf("server: %v, client: %v\nlog: %s", srv.err, cli.err, logs)
		}
		if id, err := PeerIdentity(srv.state); err != nil || id != s2.Identity() {
			t.Errorf("listener sees %+v, %v", id, err)
		}
		if id, err := PeerIdentity(cli.state); err != nil || id != s1.Identity() {
			t.Errorf("dialer sees %+v, %v", id, err)
		}
	})
	t.Run("listener refuses an agent", func(t *testing.T) {
		srvLog, cliLog := new(syncBuffer), new(syncBuffer)
		agent := mustBundle(t, ca, RoleAgent, "r1", "")
		srv, cli := handshake(t, peer(s1, srvLog, RequireServerOf("r1")),
			func(string) *tls.Config { return peer(agent, cliLog, nil) })
		checkRefused(t, srv, cli, srvLog, cliLog, refusal{ErrRefused, []string{"side=listener", "remote=127.0.0.1:", "role agent"}})
	})
	t.Run("listener refuses another CA and logs it", func(t *testing.T) {
		srvLog := new(syncBuffer)
		srv, cli := handshake(t, peer(s1, srvLog, nil), rawDialer(mustBundle(t, other, RoleServer, "r1", "").cert))
		checkRefused(t, srv, cli, srvLog, new(syncBuffer), refusal{ErrUnknownAuthority, []string{"side=listener"}})
	})
	t.Run("dialer refuses a server of another region", func(t *testing.T) {
		srvLog, cliLog := new(syncBuffer), new(syncBuffer)
		srv, cli := handshake(t, peer(s1, srvLog, nil),
			func(string) *tls.Config { return peer(s2, cliLog, RequireServerOf("r2")) })
		checkRefused(t, cli, srv, cliLog, srvLog, refusal{ErrRefused, []string{"side=dialer", `region \"r1\" not admitted`}})
	})
	t.Run("dialer refuses another CA", func(t *testing.T) {
		// Go's own verification refuses it, before any hook: not logged.
		srv, cli := handshake(t, mustBundle(t, other, RoleServer, "r1", "").ServerConfig(nil, nil),
			func(string) *tls.Config { return peer(s2, nil, nil) })
		var unknown x509UnknownAuthority
		if !errors.As(cli.err, &unknown) || srv.err == nil {
			t.Errorf("client: %v, server: %v", cli.err, srv.err)
		}
	})
}

func TestServerConfigWithoutPerConnectionCopy(t *testing.T) {
	// Should a user drop GetConfigForClient, Go's own checks still refuse.
	ca := mustCA(t, "cl_test")
	cfg := mustBundle(t, ca, RoleServer, "r1", "").ServerConfig(nil, nil)
	cfg.GetConfigForClient = nil
	srv, cli := handshake(t, cfg, rawDialer(mustBundle(t, mustCA(t, "cl_test"), RoleAgent, "r1", "").cert))
	if srv.err == nil || cli.err == nil {
		t.Errorf("foreign client accepted: server %v, client %v", srv.err, cli.err)
	}
	srv, cli = handshake(t, cfg, rawDialer())
	if srv.err == nil || cli.err == nil {
		t.Errorf("client without a certificate accepted: server %v, client %v", srv.err, cli.err)
	}
}
