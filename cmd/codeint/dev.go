package main

import (
	"context"
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
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/agents"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/events"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/telemetry"
	"github.com/codeint/codeint/controlplane/usage"
	"github.com/codeint/codeint/graph"
	"github.com/codeint/codeint/nodeagent/toolchain"
)

// devConfig is what `codeint dev` is told by its flags.
type devConfig struct {
	listen       string
	dataDir      string
	traces       string
	otlpEndpoint string
	logLevel     string
	maxTimeout   time.Duration
	rpcAddr      string
	node         nodeFlags
	export       exportFlags
}

func parseDevFlags(args []string, stderr io.Writer) (devConfig, error) {
	var c devConfig
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "HTTP address of the API (GraphQL at /graphql, playground at /, /metrics)")
	fs.StringVar(&c.dataDir, "data-dir", ".data", "where the Raft log, snapshots, admin.key and sandbox bundles live")
	fs.StringVar(&c.traces, "traces", "none", "trace exporter: none, stdout (one JSON span a line) or otlp")
	fs.StringVar(&c.otlpEndpoint, "otlp-endpoint", "127.0.0.1:4317", "OTLP gRPC endpoint for --traces otlp")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.maxTimeout, "max-sandbox-timeout", 30*time.Minute, "longest sandbox lifetime a caller may ask for")
	fs.StringVar(&c.rpcAddr, "rpc-addr", "", "also serve the servers' RPC service here (mutual TLS, certificates made in DATA_DIR/tls), so that `codeint agent` processes can join and operator commands work; off when empty")
	c.node.register(fs, "local-1")
	c.export.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.export.check(); err != nil {
		return c, err
	}
	return c, c.node.resolvePaths(&c.dataDir)
}

// hostMemoryMB reads MemTotal from /proc/meminfo (4096 if unreadable).
func hostMemoryMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 4096
	}
	var kb int
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return 4096
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseDevFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.node.envd); err != nil {
		return fmt.Errorf("envd binary %s: %w (run `make build`)", cfg.node.envd, err)
	}
	if err := os.MkdirAll(cfg.dataDir, 0o711); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	p, err := startPlatform(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	defer p.close(log)

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.listen, err)
	}
	srv := &http.Server{Handler: p.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "codeint dev is running (region %s, node %s)\n", cfg.node.region, cfg.node.nodeID)
	fmt.Fprintf(stdout, "  GraphQL     %s/graphql\n  Playground  %s/\n  Metrics     %s/metrics\n", url, url, url)
	fmt.Fprintf(stdout, "  Admin key   %s  (also in %s)\n", p.adminKey, filepath.Join(cfg.dataDir, "admin.key"))
	fmt.Fprintf(stdout, "  export CODEINT_URL=%s CODEINT_API_KEY=%s\n", url, p.adminKey)
	if p.rpc != nil {
		p.rpc.printJoin(stdout, cfg.node.region)
	}
	log.Info("codeint dev listening", "event", "listening", "addr", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down", "event", "shutdown")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "error", err)
	}
	return nil
}

// platform is everything `codeint dev` runs, wired.
type platform struct {
	mux      *http.ServeMux
	adminKey string
	tel      *telemetry.Telemetry
	store    *store.Store
	node     *localNode
	rpc      *devRPC  // with --rpc-addr
	closers  []func() // run first by close
	svc      *sandboxes.Service
	broker   *events.Broker
	// nodeEvents publishes what the state machine applies to nodes.
	nodeEvents *events.NodeBroker
	cancel     context.CancelFunc
}

// liveParts returns the in-process node and, with --rpc-addr, the node
// tracker, for placement's live view; both are set before the API serves.
func (p *platform) liveParts() (*localNode, *nodes.Tracker) {
	if p.rpc == nil {
		return p.node, nil
	}
	return p.node, p.rpc.tracker
}

func startPlatform(ctx context.Context, cfg devConfig, log *slog.Logger, traceOut io.Writer) (_ *platform, err error) {
	p := &platform{}
	defer func() {
		if err != nil {
			p.close(log)
		}
	}()
	// The base template binds the host's /usr: its languages are the
	// host's toolchains, asked for their versions while Raft starts.
	probed := make(chan []sandboxes.Template, 1)
	go func() { probed <- devTemplates(ctx, log) }()
	p.tel, err = telemetry.Setup(ctx, telemetry.Config{ServiceName: "codeint", Traces: telemetry.TraceExporter(cfg.traces),
		TraceWriter: traceOut, OTLPEndpoint: cfg.otlpEndpoint})
	if err != nil {
		return nil, err
	}
	p.broker = events.NewBroker(0)
	p.nodeEvents = events.NewNodeBroker(0)

	p.store, err = store.New(store.Config{NodeID: cfg.node.nodeID, Dir: filepath.Join(cfg.dataDir, "server"),
		Logger: log.With("component", "store"), OnSandboxEvent: p.broker.Publish,
		OnNodeEvent: func(ev structs.NodeEvent) { logNodeEvent(log, ev); p.nodeEvents.Publish(ev) }})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := p.store.Open(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := p.store.Bootstrap(); err != nil {
		return nil, fmt.Errorf("bootstrap raft: %w", err)
	}
	if err := p.store.WaitForLeader(15 * time.Second); err != nil {
		return nil, fmt.Errorf("raft leader: %w", err)
	}

	p.adminKey, err = adminKey(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	if _, err := auth.Bootstrap(ctx, p.store, p.store.State(), p.adminKey, time.Now()); err != nil {
		return nil, fmt.Errorf("bootstrap admin key: %w", err)
	}

	templates := <-probed
	var remote agents.Resolver
	if cfg.rpcAddr != "" {
		if p.rpc, err = newDevRPC(cfg, log); err != nil {
			return nil, err
		}
		p.closers = append(p.closers, p.rpc.close)
		remote = agents.NewRemote(p.store.State(), p.rpc.agentPool)
	}
	registry := agents.NewRegistry(remote)
	limits := sandboxes.DefaultLimits()
	limits.MaxTimeout = cfg.maxTimeout
	ledger := usage.New(p.store.State(), cfg.node.region, billing.DefaultPlan(), nil)
	p.svc = sandboxes.New(sandboxes.Config{Store: p.store, Agents: registry, Broker: p.broker, Metrics: p.tel.Metrics,
		Logger: log.With("component", "sandboxes"), Region: cfg.node.region, Templates: templates, Limits: limits,
		Live: devLive(cfg.node.nodeID, p.liveParts), Budgets: ledger})

	var cleaned []string
	p.node, cleaned, err = startNode(ctx, cfg.node, cfg.dataDir, limits, log, p.svc.SandboxExited)
	if err != nil {
		return nil, err
	}
	registry.Register(p.node.api)
	p.node.metering.ship(storeSink(cfg.node.nodeID, p.store.Apply, log.With("component", "usage")))
	node := p.node.describe(cfg.node, "")
	if _, err := p.store.Apply(ctx, command.NodeUpsert, command.NodeUpsertRequest{Node: node}); err != nil {
		return nil, fmt.Errorf("register node: %w", err)
	}
	marked, err := p.svc.Reconcile(ctx, cfg.node.nodeID, structs.StopReasonAgentRestart, p.node.metering.recoveredEnds())
	if err != nil {
		return nil, err
	}
	log.Info("node reconciled", "event", "node_reconciled", "removed_from_host", len(cleaned), "marked_stopped", len(marked))

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go p.svc.Run(runCtx)
	go runExport(runCtx, cfg.export, ledger, usage.ExportCursor{Name: "s3", State: p.store.State(), Store: p.store},
		log.With("component", "export"))
	if p.rpc != nil {
		if err := p.rpc.serve(runCtx, p, cfg, log); err != nil {
			return nil, err
		}
	}
	p.tel.Metrics.SetSandboxCounter(p.svc.CountByState)
	if p.node.warm != nil {
		p.tel.Metrics.SetPoolReader(func() []telemetry.PoolGauge {
			var out []telemetry.PoolGauge
			for _, st := range p.node.warm.Pool().Stats() {
				out = append(out, telemetry.PoolGauge{Pool: st.Key.String(), Ready: st.Ready, Target: st.Target,
					Hits: st.Hits, Misses: st.Misses})
			}
			return out
		})
	}

	admin := auth.NewAdmin(p.store, p.store.State())
	p.mux = http.NewServeMux()
	p.mux.Handle("/metrics", p.tel.MetricsHandler)
	p.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	p.mux.Handle("/", graph.NewHandler(graph.Config{
		Sandboxes: p.svc,
		Contexts:  p.svc,
		Files:     p.svc,
		Processes: p.svc,
		Auth:      auth.NewAuthenticator(p.store.State()),
		Catalog:   catalog{region: cfg.node.region, leader: cfg.node.nodeID, templates: templates},
		Usage:     usageAdapter{ledger},
		Teams:     admin,
		Accounts:  accountsAdapter{admin: admin, ledger: ledger},
		Nodes:     p.nodeEvents,
		Logger:    log.With("component", "graph"),
		// The playground at / needs the schema.
		Introspection: true,
	}))
	return p, nil
}

// devTemplates are the templates `codeint dev` offers: base, with every
// language whose toolchain this host has (a missing one is logged).
func devTemplates(ctx context.Context, log *slog.Logger) []sandboxes.Template {
	found, missing := toolchain.Probe(ctx)
	for lang, why := range missing {
		log.Warn("language not offered", "event", "toolchain_missing", "language", lang, "reason", why)
	}
	t := sandboxes.Template{Name: "base", Description: "the host's toolchains (/usr, read-only)",
		Runtime: sandboxes.RuntimeRunc}
	for _, tc := range found {
		t.Languages = append(t.Languages, tc.Language)
		t.Toolchains = append(t.Toolchains, sandboxes.Toolchain{Language: tc.Language, Version: tc.Version, Compiled: tc.Compiled})
	}
	return []sandboxes.Template{t}
}

// close stops what startPlatform started, in reverse order. Sandboxes are
// killed with the agent; the next start marks them STOPPED (AGENT_RESTART).
func (p *platform) close(log *slog.Logger) {
	if p.cancel != nil {
		p.cancel()
	}
	for _, c := range p.closers {
		c()
	}
	if p.svc != nil {
		p.svc.Close()
	}
	if p.broker != nil {
		p.broker.Close()
	}
	if p.nodeEvents != nil {
		p.nodeEvents.Close()
	}
	if p.node != nil {
		p.node.close(log)
	}
	if p.store != nil {
		if err := p.store.Close(); err != nil {
			log.Warn("store close", "error", err)
		}
	}
	if p.tel != nil {
		_ = p.tel.Shutdown(context.Background())
	}
}

// adminKey returns the bootstrap admin key: CODEINT_BOOTSTRAP_KEY, else the
// one in DATA_DIR/admin.key, else a new one written there (0600).
func adminKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "admin.key")
	key := os.Getenv("CODEINT_BOOTSTRAP_KEY")
	if key == "" {
		if b, err := os.ReadFile(path); err == nil {
			key = strings.TrimSpace(string(b))
		}
	}
	if key == "" {
		k, err := auth.GenerateKey()
		if err != nil {
			return "", err
		}
		key = k
	}
	if len(key) < 32 {
		return "", fmt.Errorf("the bootstrap key must be at least 32 characters, got %d", len(key))
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}
