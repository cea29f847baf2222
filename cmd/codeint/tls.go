package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/codeint/codeint/controlplane/tlsutil"
)

const tlsUsage = `Usage:
  codeint tls ca create [--dir D] [--cluster-id ID] [--days N]
  codeint tls cert create --server|--agent|--client [--region R] [--name N]
                          [--dir CA_DIR] [--out D] [--dns a,b] [--ip 1.2.3.4,…] [--days N]
`

// runTLS makes the cluster CA and the certificates of servers, agents and
// clients (package tlsutil).
func runTLS(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[1] != "create" || (args[0] != "ca" && args[0] != "cert") {
		fmt.Fprint(stderr, tlsUsage)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return fmt.Errorf("unknown tls command %q (ca create, cert create)", strings.Join(args[:min(len(args), 2)], " "))
	}
	if args[0] == "ca" {
		return tlsCACreate(args[2:], stdout, stderr)
	}
	return tlsCertCreate(args[2:], stdout, stderr)
}

func tlsCACreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tls ca create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "directory for ca.pem and ca-key.pem")
	clusterID := fs.String("cluster-id", "", "cluster id the CA names (default: a random cl_… id)")
	days := fs.Int("days", 3650, "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("tls ca create: unexpected argument %q", fs.Arg(0))
	}
	if *days <= 0 {
		return fmt.Errorf("tls ca create: --days must be positive, not %d", *days)
	}
	cert, key, id, err := tlsutil.CreateCA(*dir, *clusterID, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "CA certificate  %s\nCA key          %s\ncluster id      %s\n", cert, key, id)
	return nil
}

func tlsCertCreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tls cert create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.Bool("server", false, "a control-plane server's certificate")
	agent := fs.Bool("agent", false, "a node agent's certificate")
	client := fs.Bool("client", false, "a client's certificate (tools that only dial)")
	region := fs.String("region", "", "region (required for --server and --agent)")
	name := fs.String("name", "", "node id or client name, part of the identity and the file name")
	dir := fs.String("dir", ".", "directory of the CA (ca.pem, ca-key.pem)")
	out := fs.String("out", "", "directory to write to (default: --dir)")
	dns := fs.String("dns", "", "extra DNS names, comma-separated")
	ips := fs.String("ip", "", "extra IP addresses, comma-separated (servers dialled by IP through PeerConfig need theirs)")
	days := fs.Int("days", 365, "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("tls cert create: unexpected argument %q", fs.Arg(0))
	}
	var roles []tlsutil.Role
	for _, r := range []struct {
		set  bool
		role tlsutil.Role
	}{{*server, tlsutil.RoleServer}, {*agent, tlsutil.RoleAgent}, {*client, tlsutil.RoleClient}} {
		if r.set {
			roles = append(roles, r.role)
		}
	}
	if len(roles) != 1 {
		return errors.New("tls cert create: give exactly one of --server, --agent or --client")
	}
	if *region == "" && roles[0] != tlsutil.RoleClient {
		return fmt.Errorf("tls cert create: --region is required for --%s", roles[0])
	}
	if *days <= 0 {
		return fmt.Errorf("tls cert create: --days must be positive, not %d", *days)
	}
	req := tlsutil.CertRequest{CADir: *dir, OutDir: *out, Role: roles[0], Region: *region, Name: *name,
		DNSNames: commaList(*dns), Validity: time.Duration(*days) * 24 * time.Hour}
	for _, s := range commaList(*ips) {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("tls cert create: --ip %q is not an IP address", s)
		}
		req.IPs = append(req.IPs, ip)
	}
	f, err := tlsutil.CreateCert(req)
	if err != nil {
		return err
	}
	b, err := tlsutil.Load(f)
	if err != nil {
		return fmt.Errorf("tls cert create: the new certificate does not load: %w", err)
	}
	fmt.Fprintf(stdout, "certificate     %s\nkey             %s\nCA              %s\nidentity        %s\n", f.Cert, f.Key, f.CA, b.Identity())
	return nil
}

// commaList splits "a, b,,c" into [a b c].
func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
