package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/codeint/codeint/controlplane/tlsutil"
)

// runTLSArgs runs `codeint tls ARGS…` and returns what it printed.
func runTLSArgs(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = runTLS(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestTLSCommandsWriteLoadableFiles(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runTLSArgs("ca", "create", "--dir", dir, "--cluster-id", "cl_cli", "--days", "30")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), "cl_cli"} {
		if !strings.Contains(out, want) {
			t.Errorf("ca create printed %q, want %q in it", out, want)
		}
	}

	out, _, err = runTLSArgs("cert", "create", "--server", "--region", "r1", "--name", "s1", "--dir", dir,
		"--dns", "raft.example, api.example", "--ip", "10.1.2.3,fd00::1")
	if err != nil {
		t.Fatal(err)
	}
	f := tlsutil.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "r1-server-s1.pem"), Key: filepath.Join(dir, "r1-server-s1-key.pem")}
	for _, want := range []string{f.Cert, f.Key, "codeint://cl_cli/server/r1/s1"} {
		if !strings.Contains(out, want) {
			t.Errorf("cert create printed %q, want %q in it", out, want)
		}
	}
	b, err := tlsutil.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if id := b.Identity(); id != (tlsutil.Identity{ClusterID: "cl_cli", Role: tlsutil.RoleServer, Region: "r1", Name: "s1"}) {
		t.Errorf("identity %+v", id)
	}
	c := b.Certificate()
	if !slices.Contains(c.DNSNames, "raft.example") || !slices.Contains(c.DNSNames, "api.example") {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Contains(ips, "10.1.2.3") || !slices.Contains(ips, "fd00::1") {
		t.Errorf("IPs %v", ips)
	}

	// An agent written elsewhere, and a client without a region.
	other := t.TempDir()
	if _, _, err := runTLSArgs("cert", "create", "--agent", "--region", "r1", "--name", "n1", "--dir", dir, "--out", other); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsutil.Load(tlsutil.Files{CA: f.CA, Cert: filepath.Join(other, "r1-agent-n1.pem"), Key: filepath.Join(other, "r1-agent-n1-key.pem")}); err != nil {
		t.Error(err)
	}
	if _, _, err := runTLSArgs("cert", "create", "--client", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsutil.Load(tlsutil.Files{CA: f.CA, Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client-key.pem")}); err != nil {
		t.Error(err)
	}

	if _, _, err := runTLSArgs("ca", "create", "--dir", dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second ca create: %v, want fs.ErrExist", err)
	}
	if _, _, err := runTLSArgs("cert", "create", "--server", "--region", "r1", "--name", "s1", "--dir", dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second cert create: %v, want fs.ErrExist", err)
	}
}

func TestTLSCommandErrors(t *testing.T) {
	caDir := t.TempDir()
	if _, _, err := runTLSArgs("ca", "create", "--dir", caDir); err != nil {
		t.Fatal(err)
	}
	noCA := t.TempDir()
	tests := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"ca"}, `unknown tls command "ca"`},
		{[]string{"key", "create"}, `unknown tls command "key create"`},
		{[]string{"ca", "create", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"ca", "create", "--dir", t.TempDir(), "extra"}, `unexpected argument "extra"`},
		{[]string{"ca", "create", "--dir", t.TempDir(), "--days", "0"}, "--days must be positive"},
		{[]string{"ca", "create", "--dir", t.TempDir(), "--cluster-id", "a/b"}, `cluster id "a/b"`},
		{[]string{"cert", "create", "--region", "r1", "--dir", caDir}, "exactly one of --server, --agent or --client"},
		{[]string{"cert", "create", "--server", "--agent", "--region", "r1", "--dir", caDir}, "exactly one of --server, --agent or --client"},
		{[]string{"cert", "create", "--agent", "--dir", caDir}, "--region is required for --agent"},
		{[]string{"cert", "create", "--server", "--dir", caDir}, "--region is required for --server"},
		{[]string{"cert", "create", "--server", "--region", "r1", "--dir", caDir, "--ip", "10.0.0.1,nope"}, `--ip "nope" is not an IP address`},
		{[]string{"cert", "create", "--server", "--region", "r1", "--dir", caDir, "--days", "-1"}, "--days must be positive"},
		{[]string{"cert", "create", "--server", "--region", "../r1", "--dir", caDir}, `region "../r1"`},
		{[]string{"cert", "create", "--server", "--region", "r1", "--dir", noCA}, filepath.Join(noCA, "ca.pem")},
	}
	for _, tc := range tests {
		_, _, err := runTLSArgs(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tls %s: got %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	// No arguments, and -h, print the usage and end with flag.ErrHelp.
	if _, stderr, err := runTLSArgs(); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "codeint tls cert create") {
		t.Errorf("no arguments: %v, stderr %q", err, stderr)
	}
	if _, stderr, err := runTLSArgs("cert", "create", "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "-server") {
		t.Errorf("-h: %v, stderr %q", err, stderr)
	}
}
