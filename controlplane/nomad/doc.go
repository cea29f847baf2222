// Package nomad connects codeint to the HashiCorp Nomad cluster that
// schedules its node agents, through Nomad's HTTP API (the official
// github.com/hashicorp/nomad/api client). In production each region's
// agents run as one Nomad job; this package follows what Nomad says of
// the machines under them and asks Nomad for more or fewer of them.
//
// A Watcher follows Nomad's nodes. Run lists them (GET /v1/nodes, then
// GET /v1/node/:id for each, since only the full node carries its Meta),
// reports each one's NodeState to a Sink, and then follows the Node topic
// of Nomad's event stream (GET /v1/event/stream) from the list's raft
// index, reporting every registration, deregistration, drain,
// eligibility and status change. A Nomad node is the codeint agent named
// by its client meta "codeint_node_id" (MetaNodeID) or, without it, by
// its Nomad Name; a node with neither is ignored. A NodeState is Closed,
// and must get no new sandboxes, when the node is draining, ineligible or
// down (a deregistered node is down). A state equal to the one last
// reported for a node is not reported again. When the list, the stream or
// the Sink fails, Run waits (Backoff, doubling up to MaxBackoff), lists
// again, reports what changed meanwhile (a node Nomad no longer lists is
// reported down) and follows the stream from the new index; it returns
// only when its context ends.
//
// A Scaler changes the count of the agent job's task group, per region,
// from codeint's own view of the region's capacity (Capacity). Decide is
// the rule and has no side effect: with F the free fraction, the smaller
// of free CPU over total CPU and free memory over total memory (0 when no
// node is ready), the group grows by Policy.Step when F is under
// ScaleUpBelow and shrinks by Step when F is above ScaleDownAbove, never
// outside [Min, Max], never within Cooldown of the last change, and never
// down to a point where the nodes left would be under ScaleUpBelow (so a
// scale-down is not followed by a scale-up). Check reads the group's
// desired count (GET /v1/job/:job/scale), decides, and when the count
// should change, writes it (PUT /v1/job/:job/scale) with the decision's
// Reason as the scaling event's message, which `nomad job scaling-events`
// shows.
//
// The package only reads and writes through Nomad's API and keeps no
// state beyond what one Watcher or Scaler remembers; committing node
// states to codeint's Raft is the Sink's work.
package nomad
