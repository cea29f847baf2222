package agents

import (
	"sort"
	"sync"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Registry maps node ids to agents.
type Registry struct {
	mu     sync.RWMutex
	agents map[string]agentapi.Agent
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{agents: make(map[string]agentapi.Agent)}
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
