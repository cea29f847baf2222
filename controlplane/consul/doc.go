// Package consul finds codeint servers and agents through Consul.
//
// In production the servers and agents are scheduled by Nomad and find each
// other in Consul's catalog: a server started with
// `--join consul://HOST:PORT` registers itself as service ServiceServer,
// tagged with its region ("region=<R>") and carrying an HTTP health check,
// and asks Consul for the passing instances of its region to find its peers;
// an agent started with `--servers consul://HOST:PORT` finds its region's
// servers the same way, and federation lists the other regions with Regions.
//
// The package owns three things: ParseAddr, which recognises a
// "consul://HOST:PORT[?token=T&dc=D]" flag value; Service, codeint's view of
// one registered instance (node id, region and addresses kept in the
// service's Meta); and Client, a thin wrapper over the official
// github.com/hashicorp/consul/api client that speaks to the local Consul
// agent's HTTP API (agent/service/register and deregister, health/service).
//
// A Client is safe for concurrent use. It keeps no state of its own beyond
// the api client; every call takes a context that bounds the HTTP request.
//
// Tests use the fake Consul HTTP API in the consultest subpackage.
package consul
