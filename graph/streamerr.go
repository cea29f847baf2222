package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// A subscription resolver returns its channel before the stream fails, and
// gqlgen has no transport-neutral way to end a stream with an error. The
// streamErrors extension gives every subscription a slot in its context:
// a resolver's goroutine puts the error there (failStream) before closing
// its channel, and when the stream ends the extension sends that error as
// one last response, on WebSocket and SSE alike.

type streamErrKey struct{}

type streamErr struct {
	mu  sync.Mutex
	err error
}

// failStream records err as the reason the subscription in ctx ended. It
// reports whether ctx belongs to a subscription that can carry it.
func failStream(ctx context.Context, err error) bool {
	s, ok := ctx.Value(streamErrKey{}).(*streamErr)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	return true
}

// take returns the recorded error once.
func (s *streamErr) take() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}

// streamErrors is the gqlgen extension that delivers failStream errors.
type streamErrors struct{}

var (
	_ graphql.HandlerExtension     = streamErrors{}
	_ graphql.OperationInterceptor = streamErrors{}
	_ graphql.ResponseInterceptor  = streamErrors{}
)

func (streamErrors) ExtensionName() string { return "CodeintStreamErrors" }

func (streamErrors) Validate(graphql.ExecutableSchema) error { return nil }

func (streamErrors) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		ctx = context.WithValue(ctx, streamErrKey{}, &streamErr{})
	}
	return next(ctx)
}

func (streamErrors) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil {
		return resp
	}
	s, ok := ctx.Value(streamErrKey{}).(*streamErr)
	if !ok {
		return nil
	}
	err := s.take()
	if err == nil {
		return nil
	}
	graphql.AddError(ctx, err)
	return &graphql.Response{Errors: graphql.GetErrors(ctx)}
}
