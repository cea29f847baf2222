// Package vivaldi gives every codeint process a network coordinate, so
// that the round trip between any two of them — and between two regions —
// can be estimated without having measured it.
//
// # The idea
//
// Vivaldi (Dabek et al., SIGCOMM 2004) places every process at a point of
// a small virtual space such that the distance between two points
// approximates the round trip between the two processes. Each time a
// process measures a round trip to a peer that also tells its coordinate,
// it moves its own point a little: away from the peer when the distance
// is shorter than the round trip, towards it when it is longer, like a
// spring. After some rounds of such observations the springs settle and a
// distance is a good estimate of a round trip that was never measured.
// The implementation is HashiCorp's github.com/hashicorp/serf/coordinate
// (the one Consul and Nomad use), with its default configuration: eight
// dimensions plus a "height" (the access link, added to every distance)
// and an adjustment term; coordinates are in seconds.
//
// # Who measures what
//
//   - Servers probe the servers of their region (package cluster) and of
//     the other regions (package federation) with the Status RPC; a Status
//     reply carries the answering server's coordinate (Encode), and the
//     prober observes it with the call's round trip.
//   - Agents time their heartbeats; a heartbeat reply carries the
//     coordinate of the server the agent talked to, which the agent
//     observes. The next heartbeat carries the agent's coordinate and that
//     round trip, which the server observes in turn. The region's leader
//     keeps every node's last heartbeat, so the agents' coordinates are
//     available to placement.
//
// # Types
//
// An Estimator is one process's coordinate: Observe feeds it
// measurements, Coordinate returns it (to send to peers), DistanceTo
// estimates the round trip to another coordinate. A nil *Estimator is
// valid and means "coordinates are off": it observes nothing and
// estimates nothing.
//
// A coordinate takes some rounds of observations to settle (tens of
// rounds with every peer; its Error, serf's running measure of how wrong
// its predictions were, falls from 1.5 to a few hundredths). Until both
// ends have settled (Error ≤ SettledError) DistanceTo reports no
// estimate, and callers fall back to what they measured directly.
//
// A Book is what a server has heard of the other regions' servers: the
// latest coordinate of each. Region returns a region's coordinate as the
// component-wise median of its servers' coordinates heard recently, so
// one server that is far off (just restarted, still at the origin) does
// not move the region. The estimated round trip from this server to a
// region is then Estimator.DistanceTo(Book.Region(...)).
//
// Bad input — a nil, invalid (NaN, infinite) or differently-dimensioned
// coordinate, a round trip that is not positive or longer than 10 s — is
// rejected by Observe with an error wrapping ErrRejected and changes
// nothing; callers drop the error (it is not worth a log line: the next
// probe brings another measurement).
package vivaldi
