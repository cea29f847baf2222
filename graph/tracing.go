package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/codeint/codeint/controlplane/auth"
)

var tracer = otel.Tracer("github.com/codeint/codeint/graph")

// tracing is the gqlgen extension that opens one span per operation, named
// after the operation (or its first root field), with the team and, where
// a root field's arguments name one, the sandbox. The span ends with the operation's
// last response, or when its context ends.
type tracing struct{}

var (
	_ graphql.HandlerExtension     = tracing{}
	_ graphql.OperationInterceptor = tracing{}
)

func (tracing) ExtensionName() string { return "CodeintTracing" }

func (tracing) Validate(graphql.ExecutableSchema) error { return nil }

func (tracing) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	kind, name := operationName(oc)
	attrs := []attribute.KeyValue{
		attribute.String("graphql.operation.type", kind),
		attribute.String("graphql.operation.name", name),
	}
	if p, ok := auth.FromContext(ctx); ok {
		attrs = append(attrs, attribute.String("team_id", p.TeamID))
	}
	if id := sandboxOf(oc); id != "" {
		attrs = append(attrs, attribute.String("sandbox_id", id))
	}
	ctx, span := tracer.Start(ctx, kind+" "+name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	var once sync.Once
	end := func() { once.Do(func() { span.End() }) }
	stop := context.AfterFunc(ctx, end)

	handler := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp != nil && len(resp.Errors) > 0 {
			span.SetStatus(codes.Error, resp.Errors[0].Message)
			if code, ok := resp.Errors[0].Extensions["code"].(string); ok {
				span.SetAttributes(attribute.String("error.code", code))
			}
		}
		if resp == nil || kind != "subscription" {
			stop()
			end()
		}
		return resp
	}
}

// operationName returns the operation's type and its name, or the name of
// its first root field when it has none.
func operationName(oc *graphql.OperationContext) (kind, name string) {
	if oc == nil || oc.Operation == nil {
		return "operation", "unknown"
	}
	kind = string(oc.Operation.Operation)
	name = oc.OperationName
	if name == "" {
		name = oc.Operation.Name
	}
	if name == "" {
		for _, sel := range oc.Operation.SelectionSet {
			if f, ok := sel.(*ast.Field); ok {
				name = f.Name
				break
			}
		}
	}
	return kind, name
}

// sandboxOf returns the sandbox the operation's root fields name, if any.
func sandboxOf(oc *graphql.OperationContext) string {
	if oc == nil || oc.Operation == nil {
		return ""
	}
	for _, sel := range oc.Operation.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			continue
		}
		if id := sandboxArg(f.Name, f.ArgumentMap(oc.Variables)); id != "" {
			return id
		}
	}
	return ""
}

// sandboxArg returns the sandbox id among a root field's arguments.
func sandboxArg(field string, args map[string]any) string {
	if id, ok := args["sandboxId"].(string); ok {
		return id
	}
	switch field {
	case "sandbox", "terminateSandbox", "setSandboxTimeout":
		id, _ := args["id"].(string)
		return id
	}
	return ""
}
