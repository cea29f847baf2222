// Package graph serves codeint's GraphQL API with gqlgen.
//
// The schema lives in graph/schema, one file per domain; gqlgen generates
// graph/generated (the executor) and graph/model (the types) from it, and
// the *.resolvers.go files beside it hold thin resolvers that call the
// services in Resolver: sandboxes.API, an Authenticator, a Catalog and a
// UsageReporter. convert.go is the one place that maps service types to
// schema types.
//
// NewHandler builds the HTTP handler: POST, GET, Server-Sent Events and
// WebSocket (graphql-transport-ws and the legacy graphql-ws) on /graphql,
// GraphiQL on /. Requests authenticate with "Authorization: Bearer <key>";
// a WebSocket may instead send {"authorization": "Bearer <key>"} as its
// connection_init payload, and is closed with code 4403 without a valid key.
// Every error carries extensions.code from controlplane/apperr; INTERNAL
// errors are logged and shown only as "internal error". Each operation gets
// an OpenTelemetry span with team_id and sandbox_id attributes.
//
// Subscriptions follow gqlgen's recipe: one goroutine owns each channel and
// stops when the subscription's context ends. The handler is safe for
// concurrent use; it keeps no package-level state.
//
// Regenerate with `go generate ./graph/...`.
package graph
