// Package consultest is a fake Consul agent for tests: an httptest server
// that answers the part of Consul's HTTP API codeint uses, with the request
// and response JSON documented at
// https://developer.hashicorp.com/consul/api-docs, so that the official
// github.com/hashicorp/consul/api client (and so package consul) works
// against it unchanged.
//
// Implemented endpoints:
//
//	PUT /v1/agent/service/register        (?replace-existing-checks)
//	PUT /v1/agent/service/deregister/{id}
//	GET /v1/health/service/{service}      (?passing, ?tag= repeated, ?dc)
//	GET /v1/catalog/services              (?dc)
//
// The fake is one agent on one node (NodeName in Datacenter). Health is
// decided when asked: each HTTP check is run during the health query (a
// GET, or the check's Method, with a timeout of at most CheckTimeout),
// 2xx being passing, 429 warning and anything else critical, as Consul
// does; a TCP check dials; a check of another kind keeps the Status it was
// registered with (critical by default). An instance with no check is
// passing. DeregisterCriticalServiceAfter is honoured lazily: an instance
// whose check a query finds critical for longer than that is removed
// (Consul reaps in the background every 30s with a one-minute floor).
//
// Features the api client can ask for but the fake does not model —
// blocking queries (?index), ?filter, ?near, peers, namespaces,
// partitions — are refused with 400 rather than silently ignored. With
// RequireToken, requests must carry the ACL token (X-Consul-Token,
// "Authorization: Bearer" or ?token=) or get 403 as from Consul.
//
// Every request is recorded (Requests), and the registration bodies are
// kept as sent (Registration), so tests can assert tags, meta and checks.
// A Server is safe for concurrent use.
package consultest
