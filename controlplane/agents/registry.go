package agents

import (
	"sort"
	"sync"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Registry maps node ids to agents: those registered in this process, and
// through an optional fallback (Remote) those of other processes.
type Registry struct {
	mu       sync.RWMutex
	agents   map[string]agentapi.Agent
	fallback Resolver
}

// Resolver finds an agent by node id.
type Resolver interface {
	Get(nodeID string) (agentapi.Agent, bool)
}

// NewRegistry returns an empty registry; fallback, when not nil, is asked
// for nodes not registered here.
func NewRegistry(fallback Resolver) *Registry {
	return &Registry{agents: make(map[string]agentapi.Agent), fallback: fallback}
}

// Register adds or replaces the agent of its node.
func (r *Registry) Register(a agentapi.Agent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.agents[a.NodeID()] = a
}

// Get returns the agent of a node.
func (r *Registry) Get(nodeID string) (agentapi.Agent, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.agents[nodeID]
	if !ok && r.fallback != nil {
		return r.fallback.Get(nodeID)
	}
	return a, ok
}

// NodeIDs lists the registered nodes, sorted.
func (r *Registry) NodeIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.agents))
	for id := range r.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Learner is a Resolver that can be told where a node's agent is, for
// nodes of other regions that the local state does not list.
type Learner interface {
	Learn(nodeID, addr string)
}

// Learn tells the fallback, when it can learn, where a node's agent is.
func (r *Registry) Learn(nodeID, addr string) {
	if l, ok := r.fallback.(Learner); ok && addr != "" {
		l.Learn(nodeID, addr)
	}
}
