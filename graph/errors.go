package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/codeint/codeint/controlplane/apperr"
)

// internalMessage is all a client learns of an INTERNAL error; the detail
// goes to the log.
const internalMessage = "internal error"

// errorPresenter gives every error that leaves the server an
// extensions.code from apperr.
type errorPresenter struct {
	log *slog.Logger
}

// present is a graphql.ErrorPresenterFunc. It builds a new error rather
// than change err: gqlgen's transports read the original's code afterwards
// to choose an HTTP status or a WebSocket message type.
func (p errorPresenter) present(ctx context.Context, err error) *gqlerror.Error {
	out := &gqlerror.Error{Err: err, Message: err.Error(), Path: graphql.GetPath(ctx)}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) {
		out.Message = gqlErr.Message
		out.Path = gqlErr.Path
		out.Locations = gqlErr.Locations
		out.Rule = gqlErr.Rule
	}
	code := codeOf(err, gqlErr)
	if code == apperr.Internal {
		p.log.ErrorContext(ctx, "graphql: internal error", "error", err, "path", out.Path.String())
		out.Message = internalMessage
	}
	out.Extensions = map[string]any{"code": string(code)}
	return out
}

// codeOf classifies an error. The services' errors carry their code. An
// error gqlgen or gqlparser made from nothing (a parse or validation
// failure, an undecodable body, a complexity limit) is the request's fault:
// INVALID_ARGUMENT. Anything else is a bug: INTERNAL.
func codeOf(err error, gqlErr *gqlerror.Error) apperr.Code {
	var ae *apperr.Error
	switch {
	case errors.As(err, &ae):
		return ae.Code
	case gqlErr != nil && gqlErr.Err == nil:
		return apperr.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		return apperr.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return apperr.Unavailable
	}
	return apperr.Internal
}

// recoverPanic is a graphql.RecoverFunc: it logs the panic with its stack
// and turns it into an INTERNAL error.
func (p errorPresenter) recoverPanic(ctx context.Context, v any) error {
	p.log.ErrorContext(ctx, "graphql: panic in resolver", "panic", v, "stack", string(debug.Stack()))
	return &apperr.Error{Code: apperr.Internal, Message: fmt.Sprintf("panic: %v", v)}
}

// httpStatus is the HTTP status of an error code, for the answers the
// server writes itself (authentication failures, /files).
func httpStatus(code apperr.Code) int {
	switch code {
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.PermissionDenied:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.InvalidArgument:
		return http.StatusBadRequest
	case apperr.FailedPrecondition:
		return http.StatusConflict
	case apperr.ResourceExhausted:
		return http.StatusRequestEntityTooLarge
	case apperr.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
