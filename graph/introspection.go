package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// noIntrospection rejects documents that ask for __schema or __type, as a
// validation error (INVALID_ARGUMENT) with a clear message; gqlgen's own
// switch would answer with a bare error. __typename stays allowed.
type noIntrospection struct{}

var (
	_ graphql.HandlerExtension        = noIntrospection{}
	_ graphql.OperationContextMutator = noIntrospection{}
)

func (noIntrospection) ExtensionName() string { return "CodeintNoIntrospection" }

func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	oc.DisableIntrospection = true
	if oc.Doc == nil {
		return nil
	}
	for _, op := range oc.Doc.Operations {
		if asksIntrospection(op.SelectionSet) {
			return introspectionDisabled()
		}
	}
	for _, f := range oc.Doc.Fragments {
		if asksIntrospection(f.SelectionSet) {
			return introspectionDisabled()
		}
	}
	return nil
}

func introspectionDisabled() *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "introspection (__schema, __type) is disabled on this server",
		Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"},
	}
}

func asksIntrospection(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__schema" || sel.Name == "__type" || asksIntrospection(sel.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if asksIntrospection(sel.SelectionSet) {
				return true
			}
		}
	}
	return false
}
