package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/codeint/codeint/controlplane/cluster"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/controlplane/vivaldi"
)

// devRPC is what `codeint dev --rpc-addr` adds: the servers' RPC service
// over mutual TLS with certificates dev makes for itself, so that
// `codeint agent` processes can join the dev region and operator commands
// work; the in-process node then heartbeats like any other.
type devRPC struct {
	files     tlsutil.DevFiles
	bundle    *tlsutil.Bundle
	pool      *serverrpc.Pool // to servers (itself)
	agentPool *serverrpc.Pool // to agents that joined
	cluster   *cluster.Cluster
	tracker   *nodes.Tracker
	coords    *vivaldi.Estimator // the server's network coordinate, and the in-process node's
	grpc      *grpc.Server
	addr      string
}

// newDevRPC makes (or reuses) DATA_DIR/tls and the client pools.
func newDevRPC(cfg devConfig, log *slog.Logger) (*devRPC, error) {
	files, err := tlsutil.Dev(filepath.Join(cfg.dataDir, "tls"), cfg.node.region)
	if err != nil {
		return nil, err
	}
	bundle, err := tlsutil.Load(files.Server)
	if err != nil {
		return nil, err
	}
	d := &devRPC{files: files, bundle: bundle}
	d.pool = serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(
		bundle.ClientConfig(log, tlsutil.RequireRegion(cfg.node.region)))))
	d.agentPool = serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(
		bundle.ClientConfig(log, tlsutil.RequireRole(tlsutil.RoleAgent)))))
	return d, nil
}

// serve serves the RPC service on cfg.rpcAddr and runs the cluster's
// leader duties (the node tracker) until ctx ends.
func (d *devRPC) serve(ctx context.Context, p *platform, cfg devConfig, log *slog.Logger) error {
	bundle := d.bundle
	d.tracker = nodes.New(nodes.Config{Store: p.store, Logger: log.With("component", "nodes")})
	ln, err := net.Listen("tcp", cfg.rpcAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.rpcAddr, err)
	}
	d.addr = ln.Addr().String()
	if d.coords, err = vivaldi.New(); err != nil {
		return err
	}
	d.cluster = cluster.New(cluster.Config{
		Self:  structs.Server{ID: cfg.node.nodeID, Region: cfg.node.region, RaftAddr: p.store.Addr(), RPCAddr: d.addr, HTTPAddr: cfg.listen},
		Store: p.store, Nodes: d.tracker, Dial: d.pool, Authoritative: cfg.node.region, ClusterID: bundle.Identity().ClusterID,
		Logger: log.With("component", "cluster"), Coordinates: d.coords,
	})
	authz := serverrpc.Authorizer{Region: cfg.node.region}
	d.grpc = grpc.NewServer(grpc.Creds(credentials.NewTLS(bundle.ServerConfig(log, nil))), serverrpc.ServerKeepalive(),
		grpc.ChainUnaryInterceptor(authz.Unary), grpc.ChainStreamInterceptor(authz.Stream))
	serverrpc.NewServer(d.cluster, d.cluster.Forwarder(), nil).SetCoordinates(d.coords).Register(d.grpc)
	go func() {
		if err := d.grpc.Serve(ln); err != nil {
			log.Error("rpc server", "error", err)
		}
	}()
	go d.cluster.Run(ctx)
	go d.beat(ctx, p, cfg, log)
	return nil
}

// beat sends the in-process node's heartbeats to the tracker directly:
// with the tracker running, a node that does not beat goes DOWN.
func (d *devRPC) beat(ctx context.Context, p *platform, cfg devConfig, log *slog.Logger) {
	ended := p.node.metering.recoveredEnds()
	for {
		hb, err := beat(ctx, p.node, agentConfig{node: cfg.node}, &exitLog{}, ended)
		if err == nil {
			hb.Coord = d.coords.Coordinate() // the node runs in this process: the server's coordinate is its own
			var r nodes.Reply
			r, err = d.tracker.Heartbeat(ctx, hb)
			if err == nil {
				killLeftovers(ctx, p.node, r.Kill, log)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("heartbeat of the in-process node failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(nodes.DefaultTTL / 3):
		}
	}
}

// printJoin tells how to add an agent to this dev region.
func (d *devRPC) printJoin(w io.Writer, region string) {
	fmt.Fprintf(w, "  RPC         %s  (mutual TLS, certificates in %s)\n", d.addr, filepath.Dir(d.files.Server.CA))
	fmt.Fprintf(w, "  Add a node  codeint agent --node-id NODE --region %s --data-dir DIR --servers %s --rpc-addr HOST:PORT \\\n"+
		"                --ca-file %s --cert-file %s --key-file %s\n", region, d.addr, d.files.Agent.CA, d.files.Agent.Cert, d.files.Agent.Key)
}

func (d *devRPC) close() {
	if d.grpc != nil {
		d.grpc.Stop()
	}
	_ = d.pool.Close()
	_ = d.agentPool.Close()
}
