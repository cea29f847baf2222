package graph

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
)

// CloseForbidden is the WebSocket close code for a connection_init without
// a valid API key (graphql-transport-ws's Forbidden).
const CloseForbidden = 4403

// closeInternal is the WebSocket close code when the key could not be
// checked at all (RFC 6455 internal error).
const closeInternal = 1011

// authenticator checks API keys for HTTP requests and WebSocket
// connections.
type authenticator struct {
	auth Authenticator
	log  *slog.Logger
}

// authenticate checks an Authorization value, "Bearer <key>".
func (a authenticator) authenticate(ctx context.Context, header string) (auth.Principal, error) {
	if header == "" {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "an API key is required: send it as \"Authorization: Bearer <key>\"")
	}
	scheme, key, _ := strings.Cut(strings.TrimSpace(header), " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "the Authorization value must be \"Bearer <key>\"")
	}
	if a.auth == nil {
		return auth.Principal{}, errNotConfigured("authentication")
	}
	p, err := a.auth.Authenticate(ctx, key)
	switch apperr.CodeOf(err) {
	case "":
		return p, nil
	case apperr.Unauthenticated, apperr.NotFound:
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "the API key is not valid: it is unknown, revoked or mistyped")
	}
	return auth.Principal{}, err
}

// middleware authenticates HTTP requests (POST, GET and SSE alike) and
// puts the principal in their context. A WebSocket upgrade without the
// header passes: its key comes in connection_init (see wsInit).
func (a authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" && r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.authenticate(r.Context(), header)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// writeError answers a request that failed authentication with a GraphQL
// error body and the status that fits its code.
func (a authenticator) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := apperr.CodeOf(err)
	msg := err.Error()
	switch code {
	case apperr.Unauthenticated:
		w.Header().Set("WWW-Authenticate", `Bearer realm="codeint"`)
	case apperr.Unavailable, apperr.DeadlineExceeded:
	default:
		a.log.ErrorContext(r.Context(), "graphql: authentication failed", "error", err)
		code, msg = apperr.Internal, internalMessage
	}
	writeErrorBody(w, httpStatus(code), code, msg)
}

// writeErrorBody writes a GraphQL response with one error and its code.
func writeErrorBody(w http.ResponseWriter, status int, code apperr.Code, msg string) {
	body, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": string(code)}}},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// wsInit is the WebSocket transport's InitFunc: the key comes in the
// connection_init payload as {"authorization": "Bearer <key>"} (or
// "Authorization"), else from the upgrade request's header. Without a
// valid key the socket is closed with CloseForbidden.
func (a authenticator) wsInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	header := payload.Authorization()
	if header == "" {
		if _, ok := auth.FromContext(ctx); ok {
			return ctx, nil, nil
		}
	}
	p, err := a.authenticate(ctx, header)
	if err != nil {
		closeCode, reason := CloseForbidden, "Forbidden"
		if apperr.CodeOf(err) != apperr.Unauthenticated {
			a.log.ErrorContext(ctx, "graphql: websocket authentication failed", "error", err)
			closeCode, reason = closeInternal, "Internal error"
		}
		ctx = transport.WithWebsocketCloseCode(ctx, closeCode)
		ctx = transport.AppendCloseReason(ctx, reason)
		return ctx, nil, err
	}
	return auth.WithPrincipal(ctx, p), nil, nil
}
