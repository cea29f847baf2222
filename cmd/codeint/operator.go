package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/tlsutil"
)

const operatorUsage = `Usage:
  codeint operator raft list-peers            the region's Raft servers
  codeint operator raft remove-peer NODE_ID   remove a server from the region's Raft
  codeint operator snapshot save FILE         save a snapshot of the region's state
  codeint operator snapshot restore FILE      replace the region's state with a snapshot
Flags (before the arguments): --server HOST:PORT (a server's RPC address; CODEINT_RPC_ADDR),
--ca-file, --cert-file, --key-file (a client certificate: codeint tls cert create --client;
CODEINT_CA_FILE, CODEINT_CERT_FILE, CODEINT_KEY_FILE).
`

// runOperator runs the operator commands against a server's RPC service.
func runOperator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, operatorUsage)
		return flag.ErrHelp
	}
	group, verb := args[0], args[1]
	fs := flag.NewFlagSet("operator "+group+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("CODEINT_RPC_ADDR", "127.0.0.1:7101"), "a server's RPC address")
	var tf tlsFlags
	tf.register(fs)
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	tf.ca, tf.cert, tf.key = envOr("CODEINT_CA_FILE", tf.ca), envOr("CODEINT_CERT_FILE", tf.cert), envOr("CODEINT_KEY_FILE", tf.key)
	rest := fs.Args()
	bundle, err := tf.load()
	if err != nil {
		return err
	}
	pool := serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(
		bundle.ClientConfig(nil, tlsutil.RequireRole(tlsutil.RoleServer)))))
	defer pool.Close()
	conn, err := pool.Conn(*server)
	if err != nil {
		return err
	}
	c := serverpb.NewServerClient(conn)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	switch group + " " + verb {
	case "raft list-peers":
		return listPeers(ctx, c, stdout)
	case "raft remove-peer":
		if len(rest) != 1 {
			return errors.New("usage: codeint operator raft remove-peer NODE_ID")
		}
		if _, err := c.RemovePeer(ctx, &serverpb.RemovePeerRequest{NodeId: rest[0]}); err != nil {
			return forward.FromStatus(err)
		}
		fmt.Fprintf(stdout, "removed %s\n", rest[0])
		return nil
	case "snapshot save":
		if len(rest) != 1 {
			return errors.New("usage: codeint operator snapshot save FILE")
		}
		return saveSnapshot(ctx, c, rest[0], stdout)
	case "snapshot restore":
		if len(rest) != 1 {
			return errors.New("usage: codeint operator snapshot restore FILE")
		}
		f, err := os.Open(rest[0])
		if err != nil {
			return err
		}
		defer f.Close()
		idx, err := serverrpc.SendSnapshot(ctx, c, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "restored %s (the region's state is now at index %d)\n", rest[0], idx)
		return nil
	}
	fmt.Fprint(stderr, operatorUsage)
	return fmt.Errorf("unknown operator command %q", group+" "+verb)
}

func listPeers(ctx context.Context, c serverpb.ServerClient, stdout io.Writer) error {
	r, err := c.ListPeers(ctx, &serverpb.ListPeersRequest{})
	if err != nil {
		return forward.FromStatus(err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRAFT ADDRESS\tRPC ADDRESS\tSTATE\tVOTER")
	for _, p := range r.GetPeers() {
		st := "follower"
		if p.GetLeader() {
			st = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", p.GetNodeId(), p.GetRaftAddr(), p.GetRpcAddr(), st, p.GetVoter())
	}
	return tw.Flush()
}

// saveSnapshot writes to a temporary file renamed into place, so that a
// failed download leaves no half file under the name.
func saveSnapshot(ctx context.Context, c serverpb.ServerClient, path string, stdout io.Writer) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := serverrpc.ReceiveSnapshot(ctx, c, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved %s (%d bytes)\n", path, n)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
