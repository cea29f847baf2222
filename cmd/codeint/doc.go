// Command codeint is the whole platform in one binary.
//
//	codeint dev                     the whole platform on one machine
//	codeint sandbox create|list|exec|kill
//	codeint run python -c 'print(1)'
//
// `dev` wires one control-plane server (a single-node Raft with its log
// under --data-dir), one node agent in the same process (region "local")
// and the GraphQL API. The client commands talk to CODEINT_URL with
// CODEINT_API_KEY.
package main
