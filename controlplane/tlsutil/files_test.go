package tlsutil

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// mustMode asserts the permission bits of path.
func mustMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	certPath, keyPath, id, err := CreateCA(dir, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if certPath != filepath.Join(dir, "ca.pem") || keyPath != filepath.Join(dir, "ca-key.pem") {
		t.Errorf("files %s %s", certPath, keyPath)
	}
	if !strings.HasPrefix(id, "cl_") || checkClusterID(id) != nil || len(id) != len("cl_")+16 {
		t.Errorf("generated cluster id %q", id)
	}
	mustMode(t, dir, 0o700)
	mustMode(t, keyPath, 0o600)
	ca := mustLoadCA(t, dir)
	if ca.clusterID != id || !strings.Contains(ca.cert.Subject.CommonName, id) || !ca.cert.IsCA {
		t.Errorf("CA subject %q, cluster id %q, want %q", ca.cert.Subject, ca.clusterID, id)
	}
	if d := time.Until(ca.cert.NotAfter) - defaultCAValidity; d > time.Minute || d < -time.Minute {
		t.Errorf("CA expires %v, want in ten years", ca.cert.NotAfter)
	}

	before := [][]byte{mustRead(t, certPath), mustRead(t, keyPath)}
	if _, _, _, err := CreateCA(dir, "cl_other", 0); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateCA: %v, want fs.ErrExist", err)
	}
	if !bytes.Equal(before[0], mustRead(t, certPath)) || !bytes.Equal(before[1], mustRead(t, keyPath)) {
		t.Error("second CreateCA changed the files")
	}
	// Only the key left over from something else is enough to refuse.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "ca-key.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := CreateCA(other, "cl_x", 0); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateCA over a lone key: %v, want fs.ErrExist", err)
	}
	if _, err := os.Stat(filepath.Join(other, "ca.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ca.pem written beside a foreign key: %v", err)
	}

	for _, bad := range []string{"a/b", "cl.x", strings.Repeat("x", 64)} {
		if _, _, _, err := CreateCA(t.TempDir(), bad, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("cluster id %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCreateCert(t *testing.T) {
	caDir := mustCA(t, "cl_test")
	out := filepath.Join(t.TempDir(), "out")
	f, err := CreateCert(CertRequest{CADir: caDir, OutDir: out, Role: RoleServer, Region: "r1", Name: "n1",
		DNSNames: []string{"raft.internal", "localhost"}, IPs: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	want := Files{CA: filepath.Join(caDir, "ca.pem"), Cert: filepath.Join(out, "r1-server-n1.pem"), Key: filepath.Join(out, "r1-server-n1-key.pem")}
	if f != want {
		t.Errorf("files %+v, want %+v", f, want)
	}
	mustMode(t, f.Key, 0o600)
	b, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if id := b.Identity(); id != (Identity{ClusterID: "cl_test", Role: RoleServer, Region: "r1", Name: "n1"}) {
		t.Errorf("identity %+v", id)
	}
	c := b.Certificate()
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ext key usage %v", c.ExtKeyUsage)
	}
	if !slices.Equal(c.DNSNames, []string{"server.r1.codeint", "localhost", "raft.internal"}) {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "::1", "10.0.0.5"}) {
		t.Errorf("IPs %v", ips)
	}
	if d := time.Until(c.NotAfter) - defaultCertValidity; d > time.Minute || d < -time.Minute {
		t.Errorf("expires %v, want in a year", c.NotAfter)
	}
	if _, err := CreateCert(CertRequest{CADir: caDir, OutDir: out, Role: RoleServer, Region: "r1", Name: "n1"}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateCert: %v, want fs.ErrExist", err)
	}

	// A client needs no region; OutDir defaults to the CA's directory.
	f, err = CreateCert(CertRequest{CADir: caDir, Role: RoleClient})
	if err != nil || f.Cert != filepath.Join(caDir, "client.pem") || f.Key != filepath.Join(caDir, "client-key.pem") {
		t.Errorf("client cert %+v, %v", f, err)
	}

	for _, req := range []CertRequest{
		{Role: RoleAgent},                   // no region
		{Role: "admin", Region: "r1"},       // unknown role
		{Role: RoleServer, Region: "../r1"}, // not a label
		{Role: RoleServer, Region: "r1", Name: "a/b"},
		{Role: RoleServer, Region: "r1", IPs: []net.IP{nil}},
		{Role: RoleServer, Region: "r1", Validity: -time.Hour},
	} {
		req.CADir, req.OutDir = caDir, t.TempDir()
		if _, err := CreateCert(req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", req, err)
		}
	}
	if _, err := CreateCert(CertRequest{CADir: t.TempDir(), Role: RoleServer, Region: "r1"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no CA: %v, want fs.ErrNotExist", err)
	}
}

func TestCertNeverOutlivesCA(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := CreateCA(dir, "cl_short", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	b := mustBundle(t, dir, RoleAgent, "r1", "")
	if ca := mustLoadCA(t, dir); !b.Certificate().NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("cert expires %v, CA %v", b.Certificate().NotAfter, ca.cert.NotAfter)
	}
}

func TestLoadChecksTheCA(t *testing.T) {
	caA, caB := mustCA(t, "cl_test"), mustCA(t, "cl_test")
	f, err := CreateCert(CertRequest{CADir: caA, OutDir: t.TempDir(), Role: RoleAgent, Region: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	f.CA = filepath.Join(caB, "ca.pem")
	if _, err := Load(f); !errors.Is(err, ErrUnknownAuthority) {
		t.Errorf("cert of CA A with CA B: %v, want ErrUnknownAuthority", err)
	}

	// A CA file holding both CAs (a rotation) verifies either's certificates.
	both := filepath.Join(t.TempDir(), "ca.pem")
	pems := append(mustRead(t, filepath.Join(caB, "ca.pem")), mustRead(t, filepath.Join(caA, "ca.pem"))...)
	if err := os.WriteFile(both, pems, 0o644); err != nil {
		t.Fatal(err)
	}
	f.CA = both
	if _, err := Load(f); err != nil {
		t.Errorf("with both CAs: %v", err)
	}

	// A certificate of the right CA naming another cluster does not load.
	signer := mustLoadCA(t, caA)
	signer.clusterID = "cl_other"
	der, key, err := issue(signer, Identity{ClusterID: "cl_other", Role: RoleAgent, Region: "r1"}, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	g := Files{CA: filepath.Join(caA, "ca.pem"), Cert: filepath.Join(out, "c.pem"), Key: filepath.Join(out, "k.pem")}
	if err := writePair(g.Cert, g.Key, der, key); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(g); !errors.Is(err, ErrWrongCluster) {
		t.Errorf("cert naming another cluster: %v, want ErrWrongCluster", err)
	}
}

func TestDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	dev, err := Dev(dir, "local")
	if err != nil {
		t.Fatal(err)
	}
	server, agent := dev.Server, dev.Agent
	mustMode(t, dir, 0o700)
	for _, c := range []struct {
		f    Files
		role Role
	}{{server, RoleServer}, {agent, RoleAgent}, {dev.Client, RoleClient}} {
		b, err := Load(c.f)
		if err != nil {
			t.Fatal(err)
		}
		if id := b.Identity(); id.Role != c.role || id.Region != "local" || !strings.HasPrefix(id.ClusterID, "cl_") {
			t.Errorf("identity %+v, want %s of local", id, c.role)
		}
	}
	files := []string{server.CA, server.Cert, server.Key, agent.Cert, agent.Key, filepath.Join(dir, "ca-key.pem")}
	before := make(map[string][]byte)
	for _, p := range files {
		before[p] = mustRead(t, p)
	}

	dev2, err := Dev(dir, "local")
	if err != nil {
		t.Fatal(err)
	}
	if dev2 != dev {
		t.Errorf("second Dev gave %+v, want %+v", dev2, dev)
	}
	for _, p := range files {
		if !bytes.Equal(before[p], mustRead(t, p)) {
			t.Errorf("second Dev rewrote %s", p)
		}
	}

	// A lost agent certificate is made again with the same CA; the rest stays.
	if err := os.Remove(agent.Cert); err != nil {
		t.Fatal(err)
	}
	if dev3, err := Dev(dir, "local"); err != nil || dev3.Agent != agent {
		t.Fatalf("Dev after losing the agent cert: %+v, %v", dev3, err)
	}
	if b, err := Load(agent); err != nil || bytes.Equal(before[agent.Key], mustRead(t, agent.Key)) {
		t.Errorf("agent cert not remade: %v", err)
	} else if b.Identity().ClusterID != mustLoadCA(t, dir).clusterID {
		t.Errorf("remade agent cert of cluster %q", b.Identity().ClusterID)
	}
	for _, p := range []string{server.CA, server.Cert, server.Key} {
		if !bytes.Equal(before[p], mustRead(t, p)) {
			t.Errorf("Dev rewrote %s", p)
		}
	}

	if _, err := Dev(t.TempDir(), "../x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad region: %v, want ErrInvalid", err)
	}
}
