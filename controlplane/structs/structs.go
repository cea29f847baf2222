package structs

import (
	"encoding/json"
	"time"
)

// SandboxState is the lifecycle state of a sandbox.
type SandboxState string

// The sandbox states, as in the GraphQL enum.
const (
	SandboxCreating  SandboxState = "CREATING"
	SandboxRunning   SandboxState = "RUNNING"
	SandboxExecuting SandboxState = "EXECUTING"
	SandboxStopping  SandboxState = "STOPPING"
	SandboxStopped   SandboxState = "STOPPED"
	SandboxFailed    SandboxState = "FAILED"
	// SandboxLost: the sandbox's node went silent; the control plane no
	// longer knows whether it runs and stops billing it. If the node comes
	// back, its agent is told to kill it.
	SandboxLost SandboxState = "LOST"
)

// Terminal reports whether no further transition can leave the state.
func (s SandboxState) Terminal() bool {
	return s == SandboxStopped || s == SandboxFailed || s == SandboxLost
}

// Valid reports whether s is one of the known states.
func (s SandboxState) Valid() bool {
	switch s {
	case SandboxCreating, SandboxRunning, SandboxExecuting, SandboxStopping, SandboxStopped, SandboxFailed, SandboxLost:
		return true
	}
	return false
}

// Stop reasons recorded in Sandbox.StopReason.
const (
	StopReasonTerminated   = "TERMINATED"       // the user asked
	StopReasonTimeout      = "TIMEOUT"          // the sandbox lifetime ran out
	StopReasonExited       = "EXITED"           // envd exited or the container died
	StopReasonAgentRestart = "AGENT_RESTART"    // the node agent restarted; the sandbox did not survive
	StopReasonStartFailed  = "START_FAILED"     // the runtime could not start it
	StopReasonNodeLost     = "NODE_LOST"        // its node stopped heartbeating; the sandbox is LOST
	StopReasonBudget       = "BUDGET_EXHAUSTED" // its team ran out of credit (billing hard limit)
)

// Team owns sandboxes and API keys. Every lookup is scoped by team.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// APIKey authenticates a caller as a team. Only the SHA-256 hash of the
// secret is stored; Prefix is the recognisable start of the key shown to
// people ("ci_live_ab12…").
type APIKey struct {
	ID        string    `json:"id"`
	TeamID    string    `json:"teamId"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`
	Hash      string    `json:"hash"` // hex SHA-256 of the whole key
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"createdAt"`
	// RevokedAt is when the key was revoked; a revoked key authenticates
	// nothing. Keys are revoked, not deleted, so that regions replicating
	// the global state learn of it like of any other change.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// EnvVar is one environment variable given to a sandbox or an execution.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Sandbox is the control plane's record of one sandbox.
type Sandbox struct {
	ID             string          `json:"id"`
	TeamID         string          `json:"teamId"`
	Template       string          `json:"template"`
	Runtime        string          `json:"runtime"` // RUNC or GVISOR
	Region         string          `json:"region"`
	NodeID         string          `json:"nodeId"`
	State          SandboxState    `json:"state"`
	StopReason     string          `json:"stopReason,omitempty"`
	Error          string          `json:"error,omitempty"`
	VCPUs          float64         `json:"vcpus"`
	MemoryMB       int             `json:"memoryMB"`
	DiskMB         int             `json:"diskMB"`
	TimeoutSeconds int             `json:"timeoutSeconds"`
	Env            []EnvVar        `json:"env,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
	StartedAt      time.Time       `json:"startedAt,omitzero"`
	StoppedAt      time.Time       `json:"stoppedAt,omitzero"`
	ExpiresAt      time.Time       `json:"expiresAt,omitzero"`
	CreateIndex    uint64          `json:"createIndex"`
	ModifyIndex    uint64          `json:"modifyIndex"`
	// Placement explains the choice of region and node.
	Placement *Placement `json:"placement,omitempty"`
}

// Copy returns a copy that may be changed without touching the original.
func (s *Sandbox) Copy() *Sandbox {
	if s == nil {
		return nil
	}
	c := *s
	c.Env = append([]EnvVar(nil), s.Env...)
	c.Metadata = append(json.RawMessage(nil), s.Metadata...)
	return &c
}

// NodeStatus is the health of a node agent as the control plane sees it.
type NodeStatus string

// Node statuses.
const (
	NodeReady NodeStatus = "READY"
	NodeDown  NodeStatus = "DOWN"
)

// Node is a node agent registered with its region's servers.
type Node struct {
	ID        string            `json:"id"`
	Region    string            `json:"region"`
	Zone      string            `json:"zone,omitempty"`
	RPCAddr   string            `json:"rpcAddr,omitempty"` // the agent's gRPC address, which servers dial
	Status    NodeStatus        `json:"status"`
	VCPUs     float64           `json:"vcpus"`
	MemoryMB  int               `json:"memoryMB"`
	DiskMB    int               `json:"diskMB"`
	Templates []string          `json:"templates"`
	Runtimes  []string          `json:"runtimes"` // OCI runtimes installed: RUNC, GVISOR
	Labels    map[string]string `json:"labels,omitempty"`
	// Draining nodes take no new sandboxes and shrink their warm pools
	// (a drain, or ineligible or down in Nomad); DrainReason says who
	// asked.
	Draining    bool      `json:"draining,omitempty"`
	DrainReason string    `json:"drainReason,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// SandboxEventType says what changed about a sandbox.
type SandboxEventType string

// Sandbox event types.
const (
	SandboxEventCreated        SandboxEventType = "CREATED"
	SandboxEventStateChanged   SandboxEventType = "STATE_CHANGED"
	SandboxEventTimeoutChanged SandboxEventType = "TIMEOUT_CHANGED"
)

// SandboxEvent is published after Raft applies a change to a sandbox. It
// carries the sandbox as it is after the change and the log index that
// made it, so subscribers can order and de-duplicate events.
type SandboxEvent struct {
	Index   uint64           `json:"index"`
	Type    SandboxEventType `json:"type"`
	At      time.Time        `json:"at"`
	Sandbox *Sandbox         `json:"sandbox"`
}

// NodeEventType says what happened to a node.
type NodeEventType string

// Node event types.
const (
	NodeEventRegistered NodeEventType = "REGISTERED" // a node the state did not know
	NodeEventDown       NodeEventType = "DOWN"       // the node went silent; its sandboxes are LOST
	NodeEventReady      NodeEventType = "READY"      // a DOWN node came back
	NodeEventDrain      NodeEventType = "DRAIN"      // the node takes no new sandboxes
	NodeEventEligible   NodeEventType = "ELIGIBLE"   // a drain ended
)

// NodeEvent is published after Raft applies a change to a node's health.
// Node is the node as it is after the change; Lost lists the sandboxes a
// DOWN event marked LOST.
type NodeEvent struct {
	Index uint64        `json:"index"`
	Type  NodeEventType `json:"type"`
	At    time.Time     `json:"at"`
	Node  *Node         `json:"node"`
	Lost  []string      `json:"lost,omitempty"`
}

// Server is a control-plane server of the region, as it advertises itself
// to the other servers and to node agents.
type Server struct {
	ID        string    `json:"id"` // the Raft server id
	Region    string    `json:"region"`
	RaftAddr  string    `json:"raftAddr"`
	RPCAddr   string    `json:"rpcAddr"`  // server-to-server and agent gRPC
	HTTPAddr  string    `json:"httpAddr"` // the public API
	UpdatedAt time.Time `json:"updatedAt"`
}
