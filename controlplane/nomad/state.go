package nomad

import (
	"context"

	"github.com/hashicorp/nomad/api"
)

// MetaNodeID is the Nomad client meta key that names the codeint agent a
// Nomad node runs. A node without it is known by its Nomad Name.
const MetaNodeID = "codeint_node_id"

// NodeState is what Nomad says of one node that runs a codeint agent.
type NodeState struct {
	NodeID     string // codeint agent id
	NomadID    string // Nomad's node id (a UUID)
	Datacenter string
	Eligible   bool   // SchedulingEligibility == "eligible"
	Draining   bool   // a drain strategy is set (DrainStrategy != nil) or the legacy Drain flag
	Down       bool   // Status == "down" or the node was deregistered
	Index      uint64 // Nomad's raft index of the change
}

// Closed reports whether codeint must give the node no new sandboxes: it
// is draining, ineligible or down.
func (s NodeState) Closed() bool {
	return s.Draining || !s.Eligible || s.Down
}

// same reports whether s and o say the same of the same node, whatever
// their Index.
func (s NodeState) same(o NodeState) bool {
	s.Index, o.Index = 0, 0
	return s == o
}

// Sink receives node states; codeint commits them to its Raft.
type Sink interface {
	NodeState(ctx context.Context, s NodeState) error
}

// AgentID returns the codeint agent id of a Nomad node: its meta
// MetaNodeID when set, otherwise its Name. "" means the node runs no
// agent codeint can name, and is ignored.
func AgentID(n *api.Node) string {
	if n == nil {
		return ""
	}
	if id := n.Meta[MetaNodeID]; id != "" {
		return id
	}
	return n.Name
}

// stateOf derives the NodeState of n at index. deregistered marks a node
// Nomad has removed. ok is false when n maps to no agent.
func stateOf(n *api.Node, index uint64, deregistered bool) (s NodeState, ok bool) {
	id := AgentID(n)
	if id == "" || n.ID == "" {
		return NodeState{}, false
	}
	return NodeState{
		NodeID:     id,
		NomadID:    n.ID,
		Datacenter: n.Datacenter,
		Eligible:   n.SchedulingEligibility == api.NodeSchedulingEligible,
		Draining:   n.DrainStrategy != nil || n.Drain,
		Down:       deregistered || n.Status == api.NodeStatusDown,
		Index:      index,
	}, true
}
