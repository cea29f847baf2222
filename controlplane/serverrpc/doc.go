// Package serverrpc is the gRPC service every codeint server offers to the
// other servers of its region and to node agents: the leader's Apply and
// ReadIndex for forwarded writes and linearizable reads, cluster
// membership (Status, Join, RemovePeer, ListPeers), snapshots, and agents'
// heartbeats. Handlers are thin: they decode, call a Backend, and encode
// errors with package forward so that errors.Is survives the wire. Calls
// that only the leader may serve are forwarded to it by the handler when
// this server is a follower; Apply itself is never forwarded twice.
//
// With coordinates on (Server.SetCoordinates, HeartbeaterConfig.Coordinates)
// a heartbeat carries the agent's network coordinate and the round trip of
// its previous beat, which the server the agent talked to observes (not
// the leader it forwards to), and the reply carries that server's
// coordinate, which the agent observes with the beat's round trip.
//
// Pool keeps one client connection per address, with the transport
// credentials (mutual TLS in production) given once.
package serverrpc
