package agents

import (
	"sync"

	"google.golang.org/grpc"

	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/agentrpc"
)

// Dialer gives a shared client connection to an address.
type Dialer interface {
	Conn(addr string) (grpc.ClientConnInterface, error)
}

// Remote finds the agents of other processes: a node's agent is reached
// over gRPC at the RPC address the node registered in the state.
type Remote struct {
	state *state.Store
	dial  Dialer

	mu      sync.Mutex
	clients map[string]remoteClient // node id → client
}

type remoteClient struct {
	addr   string
	client *agentrpc.Client
}

// NewRemote returns a resolver of remote agents.
func NewRemote(st *state.Store, dial Dialer) *Remote {
	return &Remote{state: st, dial: dial, clients: map[string]remoteClient{}}
}

// Get returns a client of the node's agent, or false when the node is
// unknown, has no RPC address, or cannot be dialled.
func (r *Remote) Get(nodeID string) (agentapi.Agent, bool) {
	node := r.state.Snapshot().NodeByID(nodeID)
	if node == nil || node.RPCAddr == "" {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[nodeID]; ok && c.addr == node.RPCAddr {
		return c.client, true
	}
	conn, err := r.dial.Conn(node.RPCAddr)
	if err != nil {
		return nil, false
	}
	c := agentrpc.NewClient(nodeID, conn)
	r.clients[nodeID] = remoteClient{addr: node.RPCAddr, client: c}
	return c, true
}
