package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	coderws "github.com/coder/websocket"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/graph/generated"
)

// DefaultComplexityLimit bounds an operation's complexity (one per field,
// summed over the selection) when Config.ComplexityLimit is zero.
const DefaultComplexityLimit = 500

const (
	wsInitTimeout   = 10 * time.Second // connection_init must come within
	wsKeepAlive     = 15 * time.Second // legacy graphql-ws "ka" messages
	wsPingInterval  = 20 * time.Second // graphql-transport-ws server pings
	sseKeepAlive    = 15 * time.Second // SSE comment lines
	queryCacheSize  = 1000             // parsed and validated documents kept
	graphqlEndpoint = "/graphql"
	maxUploadSize   = 64 << 20 // uploadFile; larger files go over PUT /files
	maxUploadMemory = 8 << 20  // of an upload kept in memory; the rest spills to a temp file
)

// Config is what NewHandler needs: the services the resolvers call and how
// to serve them.
type Config struct {
	Sandboxes sandboxes.API
	Contexts  sandboxes.ContextsAPI  // optional: contexts are UNAVAILABLE without it
	Files     sandboxes.FilesAPI     // optional: files (and /files) are UNAVAILABLE without it
	Processes sandboxes.ProcessesAPI // optional: commands and terminals are UNAVAILABLE without it
	Auth      Authenticator
	Catalog   Catalog         // optional: regions and templates are UNAVAILABLE without it
	Usage     UsageReporter   // optional: usage is UNAVAILABLE without it
	Teams     TeamAdmin       // optional: createTeam and createApiKey are UNAVAILABLE without it
	Accounts  Accounts        // optional: account and its mutations are UNAVAILABLE without it
	Cluster   ClusterInfo     // optional: cluster is UNAVAILABLE and every consistency level reads locally without it
	Nodes     NodeEventSource // optional: nodeEvents is UNAVAILABLE without it
	Logger    *slog.Logger    // nil discards

	// Introspection allows __schema and __type queries.
	Introspection bool
	// ComplexityLimit bounds an operation's complexity; 0 means
	// DefaultComplexityLimit.
	ComplexityLimit int
	// AllowedOrigins are extra host patterns (path.Match syntax, e.g.
	// "*.example.com") whose browser pages may open WebSockets; the
	// server's own host is always allowed.
	AllowedOrigins []string
}

// NewHandler returns the GraphQL API: /graphql answers POST (JSON, or a
// multipart upload), GET, Server-Sent Events (POST with Accept:
// text/event-stream) and WebSockets (graphql-transport-ws, and the legacy
// graphql-ws); / serves GraphiQL; /files moves large files (filesEndpoint).
// Every /graphql request needs an API key, as "Authorization: Bearer <key>"
// or, on a WebSocket, in the connection_init payload.
func NewHandler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := cfg.ComplexityLimit
	if limit == 0 {
		limit = DefaultComplexityLimit
	}
	authn := authenticator{auth: cfg.Auth, log: log}
	errs := errorPresenter{log: log}

	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{
		Sandboxes: cfg.Sandboxes,
		Contexts:  cfg.Contexts,
		Files:     cfg.Files,
		Processes: cfg.Processes,
		Auth:      cfg.Auth,
		Catalog:   cfg.Catalog,
		Usage:     cfg.Usage,
		Teams:     cfg.Teams,
		Accounts:  cfg.Accounts,
		Cluster:   cfg.Cluster,
		Nodes:     cfg.Nodes,
		Logger:    log,
	}}))
	ws := transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: coderws.AcceptOptions{OriginPatterns: cfg.AllowedOrigins},
		},
		InitFunc:              authn.wsInit,
		InitTimeout:           wsInitTimeout,
		KeepAlivePingInterval: wsKeepAlive,
		PingPongInterval:      wsPingInterval,
		MissingPongOk:         true, // pings keep proxies awake; a silent client is not cut off
		ErrorFunc: func(ctx context.Context, err error) {
			log.DebugContext(ctx, "graphql: websocket", "error", err)
		},
	}
	// gqlgen picks the first transport that supports a request: SSE must
	// come before POST, which would take its JSON body too.
	transports := []graphql.Transport{
		ws,
		transport.Options{},
		transport.GET{},
		transport.SSE{KeepAlivePingInterval: sseKeepAlive},
		transport.MultipartForm{MaxUploadSize: maxUploadSize, MaxMemory: maxUploadMemory},
		transport.POST{},
	}
	for _, t := range transports {
		srv.AddTransport(t)
	}

	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	srv.SetErrorPresenter(errs.present)
	srv.SetRecoverFunc(errs.recoverPanic)
	srv.Use(extension.Introspection{})
	if !cfg.Introspection {
		srv.Use(noIntrospection{})
	}
	srv.Use(extension.FixedComplexityLimit(limit))
	srv.Use(tracing{})
	srv.Use(streamErrors{})

	mux := http.NewServeMux()
	mux.Handle(graphqlEndpoint, authn.middleware(requireTransport(transports, srv)))
	mux.Handle("GET /{$}", playground.Handler("codeint", graphqlEndpoint))
	filesHandler{files: cfg.Files, log: log}.routes(mux, authn)
	return mux
}

// requireTransport answers a request no transport supports with a GraphQL
// error that has a code, where gqlgen would send a bare message.
func requireTransport(transports []graphql.Transport, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, t := range transports {
			if t.Supports(r) {
				next.ServeHTTP(w, r)
				return
			}
		}
		writeErrorBody(w, http.StatusBadRequest, apperr.InvalidArgument,
			"unsupported request: POST a JSON body (Content-Type: application/json), GET with a query parameter, or open a WebSocket")
	})
}
