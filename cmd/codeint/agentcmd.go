package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/codeint/codeint/controlplane/consul"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/nodeagent/agentrpc"
	"github.com/codeint/codeint/nodeagent/pool"
)

// agentConfig is what `codeint agent` is told by its flags.
type agentConfig struct {
	node      nodeFlags
	dataDir   string
	servers   string
	rpcAddr   string
	advertise string
	tls       tlsFlags
	logLevel  string
}

func parseAgentFlags(args []string, stderr io.Writer) (agentConfig, error) {
	var c agentConfig
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.node.register(fs, "")
	fs.StringVar(&c.dataDir, "data-dir", "", "where sandbox bundles live (required)")
	fs.StringVar(&c.servers, "servers", "", "RPC addresses of the region's servers, comma-separated, or consul://HOST:PORT (required)")
	fs.StringVar(&c.rpcAddr, "rpc-addr", "127.0.0.1:7200", "gRPC address (host:port) the servers reach this agent at")
	fs.StringVar(&c.advertise, "advertise", "", "RPC address to give the servers when --rpc-addr is not reachable as is (e.g. 0.0.0.0:7200)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	c.tls.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.node.nodeID == "":
		return c, errors.New("--node-id is required")
	case c.dataDir == "":
		return c, errors.New("--data-dir is required")
	case c.servers == "":
		return c, errors.New("--servers is required")
	}
	if c.advertise == "" {
		c.advertise = c.rpcAddr
	}
	return c, c.node.resolvePaths(&c.dataDir)
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseAgentFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	log = log.With("node", cfg.node.nodeID, "region", cfg.node.region)
	bundle, err := cfg.tls.load()
	if err != nil {
		return err
	}
	if id := bundle.Identity(); id.Role != tlsutil.RoleAgent || id.Region != cfg.node.region {
		return fmt.Errorf("the certificate is for a %s of region %q; an agent of region %q needs `codeint tls cert create --agent --region %s`", id.Role, id.Region, cfg.node.region, cfg.node.region)
	}
	if _, err := os.Stat(cfg.node.envd); err != nil {
		return fmt.Errorf("envd binary %s: %w (run `make build`)", cfg.node.envd, err)
	}
	if err := os.MkdirAll(cfg.dataDir, 0o711); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	exits := &exitLog{}
	var hb *serverrpc.Heartbeater
	node, cleaned, err := startNode(ctx, cfg.node, cfg.dataDir, sandboxes.DefaultLimits(), log, func(id, reason string) {
		exits.add(id, reason)
		if hb != nil {
			hb.Kick()
		}
	})
	if err != nil {
		return err
	}
	defer node.close(log)
	log.Info("node reconciled", "event", "node_reconciled", "removed_from_host", len(cleaned))

	// Servers of any region of the cluster call the agent (a client's
	// stream goes straight to the agent); it beats to its own region's.
	anyServer := tlsutil.RequireRole(tlsutil.RoleServer)
	onlyServers := tlsutil.RequireServerOf(cfg.node.region)
	ln, err := net.Listen("tcp", cfg.rpcAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.rpcAddr, err)
	}
	// Code, stdin and files travel in requests: allow more than gRPC's 4 MiB.
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(bundle.ServerConfig(log, anyServer))), grpc.MaxRecvMsgSize(64<<20),
		serverrpc.ServerKeepalive())
	agentrpc.NewServer(node.api).Register(g)
	go func() {
		if err := g.Serve(ln); err != nil {
			log.Error("rpc server", "error", err)
		}
	}()
	defer g.Stop()

	pool := serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(bundle.ClientConfig(log, onlyServers))))
	defer pool.Close()
	servers, err := agentServers(cfg)
	if err != nil {
		return err
	}
	node.metering.ship(rpcSink(cfg.node.nodeID, servers, pool))
	var drain drainState
	coords, err := vivaldi.New() // the agent's network coordinate, measured by its heartbeats
	if err != nil {
		return err
	}
	ended := node.metering.recoveredEnds() // what the last crash cut short: fixed for this run
	hb = serverrpc.NewHeartbeater(serverrpc.HeartbeaterConfig{
		Servers: servers, Dial: pool, Logger: log.With("component", "heartbeat"), Coordinates: coords,
		Beat: func(ctx context.Context) (nodes.Heartbeat, error) {
			return beat(ctx, node, cfg, exits, ended)
		},
		OnReply: func(ctx context.Context, r nodes.Reply) {
			killLeftovers(ctx, node, r.Kill, log)
			drain.follow(ctx, node, r.Drain, log)
		},
	})
	fmt.Fprintf(stdout, "codeint agent %s (region %s) is running: RPC %s, servers %s\n", cfg.node.nodeID, cfg.node.region, cfg.advertise, cfg.servers)
	log.Info("agent listening", "event", "listening", "rpc", cfg.advertise)
	hb.Run(ctx)
	log.Info("shutting down", "event", "shutdown")
	return nil
}

// agentServers returns how the agent finds its region's servers.
func agentServers(cfg agentConfig) (func(context.Context) ([]string, error), error) {
	ccfg, isConsul, err := consul.ParseAddr(cfg.servers)
	if err != nil {
		return nil, fmt.Errorf("--servers: %w", err)
	}
	if !isConsul {
		static := splitList(cfg.servers)
		return func(context.Context) ([]string, error) { return static, nil }, nil
	}
	c, err := consul.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	return func(ctx context.Context) ([]string, error) { return serverAddrs(ctx, c, cfg.node.region) }, nil
}

// beat describes the node now; ended are the recovered ends of the
// sandboxes the agent's last crash cut short (nodes.Heartbeat.Ended).
func beat(ctx context.Context, node *localNode, cfg agentConfig, exits *exitLog, ended map[string]time.Time) (nodes.Heartbeat, error) {
	ids, err := node.api.Sandboxes(ctx)
	if err != nil {
		return nodes.Heartbeat{}, err
	}
	u := node.agent.Usage()
	hb := nodes.Heartbeat{Node: node.describe(cfg.node, cfg.advertise), Sandboxes: ids, Exited: exits.recent(),
		Ended: ended, Used: nodes.Usage{VCPUs: u.VCPUs, MemoryMB: u.MemoryMB, Sandboxes: u.Sandboxes}}
	if node.warm != nil {
		hb.FreeSlots = freeSlots(node.warm)
	}
	return hb, nil
}

// drainState follows the node's drain, which the leader repeats in every
// heartbeat reply.
type drainState struct {
	mu     sync.Mutex
	on     bool
	cancel context.CancelFunc // ends the wait for the pool to empty
}

// follow empties the warm pools when the node starts draining (a draining
// node gets no new sandboxes, so they would idle) and refills them when
// the drain ends.
func (d *drainState) follow(ctx context.Context, node *localNode, drain bool, log *slog.Logger) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if node.warm == nil || d.on == drain {
		return
	}
	d.on = drain
	if !drain {
		d.cancel()
		node.warm.Pool().Resume()
		log.Info("drain ended: refilling the warm pools", "event", "node_eligible")
		return
	}
	log.Info("node draining: emptying the warm pools", "event", "node_draining")
	dctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	go func() {
		if err := node.warm.Pool().Drain(dctx); err != nil && dctx.Err() == nil {
			log.Warn("emptying the warm pools", "error", err)
		}
	}()
}

// freeSlots counts a warm pool's ready sandboxes by pool key.
func freeSlots(w *pool.Agent) map[string]int {
	out := map[string]int{}
	for _, st := range w.Pool().Stats() {
		out[st.Key.String()] = st.Ready
	}
	return out
}

// killLeftovers stops the sandboxes the leader says the region no longer
// wants.
func killLeftovers(ctx context.Context, node *localNode, ids []string, log *slog.Logger) {
	for _, id := range ids {
		if err := node.api.StopSandbox(ctx, id); err != nil {
			log.Warn("kill leftover sandbox", "sandbox_id", id, "error", err)
			continue
		}
		log.Info("killed a sandbox the region no longer wants", "event", "sandbox_reconciled", "sandbox_id", id)
	}
}

// exitLog remembers the sandboxes that ended by themselves, reported in
// every heartbeat for exitMemory so that a beat lost on the way costs
// nothing (the leader records an exit once).
type exitLog struct {
	mu     sync.Mutex
	exited map[string]exitEntry
}

type exitEntry struct {
	reason string
	at     time.Time
}

const exitMemory = 30 * time.Second

func (e *exitLog) add(id, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exited == nil {
		e.exited = map[string]exitEntry{}
	}
	e.exited[id] = exitEntry{reason: reason, at: time.Now()}
}

// recent returns the exits of the last exitMemory, forgetting older ones.
func (e *exitLog) recent() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.exited) == 0 {
		return nil
	}
	out := make(map[string]string, len(e.exited))
	for id, x := range e.exited {
		if time.Since(x.at) > exitMemory {
			delete(e.exited, id)
			continue
		}
		out[id] = x.reason
	}
	return out
}
