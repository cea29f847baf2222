package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/agents"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/cluster"
	"github.com/codeint/codeint/controlplane/consul"
	"github.com/codeint/codeint/controlplane/events"
	"github.com/codeint/codeint/controlplane/federation"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/telemetry"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/controlplane/usage"
	"github.com/codeint/codeint/controlplane/vivaldi"
	"github.com/codeint/codeint/graph"
	"github.com/codeint/codeint/placement"
)

// serverConfig is what `codeint server` is told by its flags.
type serverConfig struct {
	nodeID          string
	region          string
	dataDir         string
	raftAddr        string
	rpcAddr         string
	httpAddr        string
	bootstrapExpect int
	join            string
	authoritative   string
	federate        string
	tls             tlsFlags
	deadServer      time.Duration
	heartbeatTTL    time.Duration
	maxTimeout      time.Duration
	logLevel        string
	nomad           nomadFlags
	export          exportFlags
	fedProbe        time.Duration // how often the other regions' servers are probed
	usageReport     time.Duration // how often the leader reports the region's usage to the authoritative region
}

// tlsFlags name a party's certificate files.
type tlsFlags struct{ ca, cert, key string }

func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.ca, "ca-file", "", "the cluster's CA certificate (codeint tls ca create)")
	fs.StringVar(&t.cert, "cert-file", "", "this process's certificate (codeint tls cert create)")
	fs.StringVar(&t.key, "key-file", "", "this process's private key")
}

func (t tlsFlags) load() (*tlsutil.Bundle, error) {
	if t.ca == "" || t.cert == "" || t.key == "" {
		return nil, errors.New("--ca-file, --cert-file and --key-file are required: servers and agents talk over mutual TLS (make the files with `codeint tls ca create` and `codeint tls cert create`)")
	}
	return tlsutil.Load(tlsutil.Files{CA: t.ca, Cert: t.cert, Key: t.key})
}

func parseServerFlags(args []string, stderr io.Writer) (serverConfig, error) {
	var c serverConfig
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.nodeID, "node-id", "", "this server's id, unique in the region and stable across restarts (required)")
	fs.StringVar(&c.region, "region", "global", "region name")
	fs.StringVar(&c.dataDir, "data-dir", "", "where the Raft log and snapshots live (required)")
	fs.StringVar(&c.raftAddr, "raft-addr", "127.0.0.1:7100", "Raft address (host:port) the other servers reach")
	fs.StringVar(&c.rpcAddr, "rpc-addr", "127.0.0.1:7101", "gRPC address (host:port) servers and agents reach")
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address of the API")
	fs.IntVar(&c.bootstrapExpect, "bootstrap-expect", 0, "bootstrap a new region once this many servers are up (0: join an existing one)")
	fs.StringVar(&c.join, "join", "", "RPC addresses of other servers of the region, comma-separated, or consul://HOST:PORT")
	fs.StringVar(&c.authoritative, "authoritative-region", "", "the region that owns the global state (teams, keys); default: this region")
	fs.StringVar(&c.federate, "federate", "", "RPC addresses of servers of other regions, comma-separated, or consul://HOST:PORT")
	fs.DurationVar(&c.deadServer, "dead-server-cleanup", 5*time.Minute, "remove a server unreachable this long (0: never)")
	fs.DurationVar(&c.heartbeatTTL, "heartbeat-ttl", nodes.DefaultTTL, "a node whose agent is silent this long is DOWN and its sandboxes LOST")
	fs.DurationVar(&c.maxTimeout, "max-sandbox-timeout", 30*time.Minute, "longest sandbox lifetime a caller may ask for")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.fedProbe, "federation-probe-interval", federation.DefaultProbeInterval,
		"how often the other regions' servers are probed (their latency and network coordinates)")
	fs.DurationVar(&c.usageReport, "usage-report-interval", federation.DefaultUsageInterval,
		"how often the region's leader reports its usage totals to the authoritative region, which answers with the other regions' (spend limits hold across regions within this plus the budget sweep)")
	c.tls.register(fs)
	c.nomad.register(fs)
	c.export.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.export.check(); err != nil {
		return c, err
	}
	if err := c.nomad.check(); err != nil {
		return c, err
	}
	if c.authoritative == "" {
		c.authoritative = c.region
	}
	switch {
	case c.authoritative != c.region && c.federate == "":
		return c, fmt.Errorf("region %s is not authoritative (%s is): give --federate so that it can reach the other regions", c.region, c.authoritative)
	case c.usageReport <= 0:
		return c, fmt.Errorf("--usage-report-interval %v: must be more than 0", c.usageReport)
	case c.nodeID == "":
		return c, errors.New("--node-id is required")
	case c.dataDir == "":
		return c, errors.New("--data-dir is required")
	case c.bootstrapExpect < 0:
		return c, errors.New("--bootstrap-expect must be 0 or more")
	case c.bootstrapExpect == 0 && c.join == "":
		return c, errors.New("give --bootstrap-expect N to start a new region, or --join to join one")
	}
	return c, nil
}

// serverProc is everything `codeint server` runs.
type serverProc struct {
	cfg    serverConfig
	log    *slog.Logger
	bundle *tlsutil.Bundle
	tel    *telemetry.Telemetry
	broker *events.Broker
	// nodeEvents publishes what the state machine applies to nodes.
	nodeEvents *events.NodeBroker
	store      *store.Store
	pool       *serverrpc.Pool
	cluster    *cluster.Cluster
	fed        *federation.Federation
	fedPool    *serverrpc.Pool
	coords     *vivaldi.Estimator // this server's network coordinate
	// placing is svc once it exists, for the leader's duties, which may
	// start before.
	placing atomic.Pointer[sandboxes.Service]
	// ledger reads the usage ledger and accounts; set once the store is
	// open, before the cluster forms (the leader's exporter reads it).
	ledger *usage.Service
	// agentPool reaches agents, of this region and of others (a client's
	// stream goes straight to the agent holding its sandbox).
	agentPool *serverrpc.Pool
	svc       *sandboxes.Service
	grpc      *grpc.Server
	http      *http.Server
	consul    *consul.Client
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServerFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	log = log.With("node", cfg.nodeID, "region", cfg.region)
	if key := os.Getenv("CODEINT_BOOTSTRAP_KEY"); key != "" && len(key) < 32 {
		return fmt.Errorf("CODEINT_BOOTSTRAP_KEY must be at least 32 characters, got %d", len(key))
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	s := &serverProc{cfg: cfg, log: log}
	defer s.close()
	if err := s.start(ctx, stdout); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "event", "shutdown")
	return nil
}

func (s *serverProc) start(ctx context.Context, stdout io.Writer) error {
	cfg, log := s.cfg, s.log
	var err error
	if s.bundle, err = cfg.tls.load(); err != nil {
		return err
	}
	id := s.bundle.Identity()
	if id.Role != tlsutil.RoleServer || id.Region != cfg.region {
		return fmt.Errorf("the certificate is for a %s of region %q; a server of region %q needs `codeint tls cert create --server --region %s`", id.Role, id.Region, cfg.region, cfg.region)
	}
	probed := make(chan []sandboxes.Template, 1)
	go func() { probed <- devTemplates(ctx, log) }()
	if s.tel, err = telemetry.Setup(ctx, telemetry.Config{ServiceName: "codeint-server"}); err != nil {
		return err
	}
	s.broker = events.NewBroker(0)
	s.nodeEvents = events.NewNodeBroker(0)
	// /healthz answers from the start (Consul's check must pass while the
	// region forms); the API joins once the cluster has formed.
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/metrics", s.tel.MetricsHandler)
	var api atomic.Pointer[http.Handler]
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := api.Load()
		if h == nil {
			http.Error(w, "the server is joining its region", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.httpAddr, err)
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "error", err)
		}
	}()
	peersOnly := tlsutil.RequireServerOf(cfg.region)
	s.store, err = store.New(store.Config{NodeID: cfg.nodeID, Dir: filepath.Join(cfg.dataDir, "server"), BindAddr: cfg.raftAddr,
		TLS: s.bundle.PeerConfig(log, peersOnly), Logger: log.With("component", "store"), OnSandboxEvent: s.broker.Publish,
		OnNodeEvent: func(ev structs.NodeEvent) { logNodeEvent(log, ev); s.nodeEvents.Publish(ev) }})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := s.store.Open(); err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.ledger = usage.New(s.store.State(), cfg.region, billing.DefaultPlan(), nil)
	// Servers dial servers and agents of this region.
	s.pool = serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(
		s.bundle.ClientConfig(log, tlsutil.RequireRegion(cfg.region)))))
	tracker := nodes.New(nodes.Config{Store: s.store, TTL: cfg.heartbeatTTL, Logger: log.With("component", "nodes")})
	discover, static, err := s.discovery(ctx)
	if err != nil {
		return err
	}
	if s.coords, err = vivaldi.New(); err != nil {
		return err
	}
	s.cluster = cluster.New(cluster.Config{
		Self:      structs.Server{ID: cfg.nodeID, Region: cfg.region, RaftAddr: s.store.Addr(), RPCAddr: cfg.rpcAddr, HTTPAddr: cfg.httpAddr},
		ClusterID: id.ClusterID, Authoritative: cfg.authoritative, Store: s.store, Nodes: tracker, Dial: s.pool,
		BootstrapExpect: cfg.bootstrapExpect, Join: static, Discover: discover, Coordinates: s.coords,
		DeadServerCleanup: cfg.deadServer, OnLeader: s.lead, Logger: log.With("component", "cluster"),
		Summary: s.summaryJSON,
	})
	if err := s.startFederation(); err != nil {
		return err
	}
	if err := s.serveRPC(); err != nil {
		return err
	}
	if err := s.cluster.Form(ctx); err != nil {
		return err
	}
	go s.cluster.Run(ctx)
	go s.fed.Run(ctx)

	templates := <-probed
	limits := sandboxes.DefaultLimits()
	limits.MaxTimeout = cfg.maxTimeout
	fwd := s.cluster.Forwarder()
	s.agentPool = serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(
		s.bundle.ClientConfig(log, tlsutil.RequireRole(tlsutil.RoleAgent)))))
	leader := &federation.Leader{Forwarder: fwd, Store: s.store, Region: cfg.region}
	s.svc = sandboxes.New(sandboxes.Config{Store: fwd, Agents: agents.NewRegistry(agents.NewRemote(s.store.State(), s.agentPool)),
		Broker: s.broker, Metrics: s.tel.Metrics, Logger: log.With("component", "sandboxes"), Region: cfg.region,
		Templates: templates, Limits: limits, EnforceExpiry: s.store.IsLeader, Remote: s.fed,
		Leader: leader, Live: liveNodes(tracker), Regions: placementRegions(s.fed), Budgets: s.ledger,
		CatchUp: func(ctx context.Context) error { return s.cluster.Barrier(ctx, cluster.Linearizable) }})
	leader.Local = s.svc
	s.placing.Store(s.svc)
	s.fed.Serve(s.svc)
	go s.svc.Run(ctx)
	s.tel.Metrics.SetSandboxCounter(s.svc.CountByState)

	admin := auth.NewAdmin(s.fed, s.store.State())
	var h http.Handler = graph.NewHandler(graph.Config{
		Sandboxes: s.svc, Contexts: s.svc, Files: s.svc, Processes: s.svc,
		Auth:     auth.NewAuthenticator(s.store.State()),
		Catalog:  clusterCatalog{fed: s.fed, templates: templates},
		Usage:    usageAdapter{s.ledger},
		Teams:    admin,
		Accounts: accountsAdapter{admin: admin, ledger: s.ledger},
		Cluster:  clusterInfo{region: cfg.region, cluster: s.cluster},
		Nodes:    s.nodeEvents,
		Logger:   log.With("component", "graph"), Introspection: true,
	})
	api.Store(&h)
	fmt.Fprintf(stdout, "codeint server %s (region %s) is running: API http://%s/graphql, RPC %s, Raft %s\n",
		cfg.nodeID, cfg.region, ln.Addr(), cfg.rpcAddr, s.store.Addr())
	log.Info("server listening", "event", "listening", "http", ln.Addr().String(), "rpc", cfg.rpcAddr, "raft", s.store.Addr())
	return nil
}

// serveRPC starts the gRPC service; it must answer before the cluster
// forms, since forming asks the other servers' Status.
func (s *serverProc) serveRPC() error {
	ln, err := net.Listen("tcp", s.cfg.rpcAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.rpcAddr, err)
	}
	// Servers of every region (other regions only reach federation's
	// methods: the Authorizer's check), agents of this region, operators'
	// client certificates.
	inRegion := tlsutil.RequireRegion(s.cfg.region)
	creds := credentials.NewTLS(s.bundle.ServerConfig(s.log, func(id tlsutil.Identity) error {
		if id.Role == tlsutil.RoleClient || id.Role == tlsutil.RoleServer {
			return nil
		}
		return inRegion(id)
	}))
	authz := serverrpc.Authorizer{Region: s.cfg.region}
	s.grpc = grpc.NewServer(grpc.Creds(creds), serverrpc.ServerKeepalive(),
		grpc.ChainUnaryInterceptor(authz.Unary), grpc.ChainStreamInterceptor(authz.Stream))
	serverrpc.NewServer(s.cluster, s.cluster.Forwarder(), s.fed).SetCoordinates(s.coords).Register(s.grpc)
	go func() {
		if err := s.grpc.Serve(ln); err != nil {
			s.log.Error("rpc server", "error", err)
		}
	}()
	return nil
}

// discovery splits --join into a static list and a Consul lookup.
func (s *serverProc) discovery(ctx context.Context) (func(context.Context) ([]string, error), []string, error) {
	ccfg, isConsul, err := consul.ParseAddr(s.cfg.join)
	if err != nil {
		return nil, nil, fmt.Errorf("--join: %w", err)
	}
	if !isConsul {
		return nil, splitList(s.cfg.join), nil
	}
	s.consul, err = consul.New(ccfg)
	if err != nil {
		return nil, nil, fmt.Errorf("consul: %w", err)
	}
	if err := s.registerConsul(ctx); err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context) ([]string, error) {
		return serverAddrs(ctx, s.consul, s.cfg.region)
	}, nil, nil
}

// registerConsul registers this server as codeint-server in its region.
func (s *serverProc) registerConsul(ctx context.Context) error {
	host, port, err := splitHostPort(s.cfg.rpcAddr)
	if err != nil {
		return err
	}
	err = s.consul.Register(ctx, consul.Service{
		ID: "codeint-server-" + s.cfg.nodeID, Name: consul.ServiceServer, NodeID: s.cfg.nodeID, Region: s.cfg.region,
		Address: host, Port: port, CheckHTTP: "http://" + s.cfg.httpAddr + "/healthz",
		Meta: map[string]string{"rpc_addr": s.cfg.rpcAddr, "raft_addr": s.cfg.raftAddr, "http_addr": s.cfg.httpAddr},
	})
	if err != nil {
		return fmt.Errorf("consul register: %w", err)
	}
	return nil
}

// startFederation makes the link to the other regions: servers of any
// region may be dialled, found by --federate (addresses or Consul).
func (s *serverProc) startFederation() error {
	s.fedPool = serverrpc.NewPool(grpc.WithTransportCredentials(credentials.NewTLS(
		s.bundle.ClientConfig(s.log, tlsutil.RequireRole(tlsutil.RoleServer)))))
	peers := func(context.Context) ([]string, error) { return nil, nil }
	ccfg, isConsul, err := consul.ParseAddr(s.cfg.federate)
	switch {
	case err != nil:
		return fmt.Errorf("--federate: %w", err)
	case isConsul:
		c, err := consul.New(ccfg)
		if err != nil {
			return fmt.Errorf("consul: %w", err)
		}
		peers = func(ctx context.Context) ([]string, error) { return otherRegionsServers(ctx, c, s.cfg.region) }
	case s.cfg.federate != "":
		static := splitList(s.cfg.federate)
		peers = func(context.Context) ([]string, error) { return static, nil }
	}
	s.fed = federation.New(federation.Config{Region: s.cfg.region, RPCAddr: s.cfg.rpcAddr, Authoritative: s.cfg.authoritative, Peers: peers,
		Dial: s.fedPool, Local: regionStore{s.cluster.Forwarder(), s.store}, Logger: s.log.With("component", "federation"),
		Coordinates: s.coords, ProbeInterval: s.cfg.fedProbe, UsageInterval: s.cfg.usageReport})
	return nil
}

// regionStore is this region's store as federation uses it: writes through
// the forwarder, leadership from the local Raft.
type regionStore struct {
	*forward.Forwarder
	st *store.Store
}

func (r regionStore) IsLeader() bool     { return r.st.IsLeader() }
func (r regionStore) LeaderAddr() string { return r.st.LeaderAddr() }

// otherRegionsServers lists, from Consul, the RPC addresses of the servers
// of every region but this one.
func otherRegionsServers(ctx context.Context, c *consul.Client, region string) ([]string, error) {
	insts, err := c.Instances(ctx, consul.ServiceServer, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range insts {
		if in.Region != region && in.Meta["rpc_addr"] != "" {
			out = append(out, in.Meta["rpc_addr"])
		}
	}
	return out, nil
}

// lead is what this server does while it leads the region, besides the
// cluster's own duties: the bootstrap key, the usage export, and following
// Nomad.
func (s *serverProc) lead(ctx context.Context) {
	s.bootstrapKey(ctx)
	go runExport(ctx, s.cfg.export, s.ledger, usage.ExportCursor{Name: "s3", State: s.store.State(), Store: s.store},
		s.log.With("component", "export"))
	runNomad(ctx, s.cfg.nomad, s.log.With("component", "nomad"), s.store.Apply, func() placement.Summary {
		if svc := s.placing.Load(); svc != nil {
			return svc.Summary()
		}
		return placement.Summary{}
	})
}

// summaryJSON is the region's capacity summary other regions' probes
// receive, placement's view from here (the leader's includes the warm
// slots its agents report); nil until the sandbox service runs.
func (s *serverProc) summaryJSON() []byte {
	svc := s.placing.Load()
	if svc == nil {
		return nil
	}
	b, err := json.Marshal(svc.Summary())
	if err != nil {
		s.log.Error("encode capacity summary", "error", err)
		return nil
	}
	return b
}

// bootstrapKey, on the leader of the authoritative region, makes sure the
// bootstrap admin key exists: CODEINT_BOOTSTRAP_KEY, or a new key when the
// region has none yet. The server that writes it also keeps it in
// DATA_DIR/admin.key. Other regions get it by replication.
func (s *serverProc) bootstrapKey(ctx context.Context) {
	if s.cfg.authoritative != s.cfg.region {
		return
	}
	key := os.Getenv("CODEINT_BOOTSTRAP_KEY")
	existing := s.store.State().Snapshot().APIKeyByID(auth.BootstrapKeyID)
	switch {
	case key == "" && existing != nil:
		return
	case key != "" && existing != nil && existing.Hash == auth.HashKey(key):
		return
	case key == "":
		k, err := auth.GenerateKey()
		if err != nil {
			s.log.Error("bootstrap key", "error", err)
			return
		}
		key = k
	}
	for ctx.Err() == nil {
		if _, err := auth.Bootstrap(ctx, s.store, s.store.State(), key, time.Now()); err != nil {
			s.log.Warn("bootstrap key; retrying", "error", err)
			time.Sleep(250 * time.Millisecond)
			continue
		}
		path := filepath.Join(s.cfg.dataDir, "admin.key")
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			s.log.Error("write admin key", "error", err)
		}
		s.log.Info("bootstrap admin key recorded", "event", "bootstrap_key", "path", path)
		return
	}
}

func (s *serverProc) close() {
	if s.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.http.Shutdown(sctx)
		cancel()
	}
	if s.svc != nil {
		s.svc.Close()
	}
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.consul != nil {
		_ = s.consul.Deregister(context.Background(), "codeint-server-"+s.cfg.nodeID)
	}
	if s.broker != nil {
		s.broker.Close()
	}
	if s.nodeEvents != nil {
		s.nodeEvents.Close()
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("store close", "error", err)
		}
	}
	if s.pool != nil {
		_ = s.pool.Close()
	}
	if s.fedPool != nil {
		_ = s.fedPool.Close()
	}
	if s.agentPool != nil {
		_ = s.agentPool.Close()
	}
	if s.tel != nil {
		_ = s.tel.Shutdown(context.Background())
	}
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, port, nil
}

// serverAddrs lists the RPC addresses of a region's servers in Consul.
func serverAddrs(ctx context.Context, c *consul.Client, region string) ([]string, error) {
	insts, err := c.Instances(ctx, consul.ServiceServer, region)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(insts))
	for _, in := range insts {
		if a := in.Meta["rpc_addr"]; a != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// logNodeEvent publishes a node's change in the log, on every server, as
// the state machine applies it.
func logNodeEvent(log *slog.Logger, ev structs.NodeEvent) {
	node := ""
	if ev.Node != nil {
		node = ev.Node.ID
	}
	log.Info("node "+strings.ToLower(string(ev.Type)), "event", "node_"+strings.ToLower(string(ev.Type)),
		"node_id", node, "index", ev.Index, "lost_sandboxes", len(ev.Lost))
}
