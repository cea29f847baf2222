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
	learned map[string]string       // node id → agent address, for nodes of other regions
}

type remoteClient struct {
	addr   string
	client *agentrpc.Client
}

// NewRemote returns a resolver of remote agents.
func NewRemote(st *state.Store, dial Dialer) *Remote {
	return &Remote{state: st, dial: dial, clients: map[string]remoteClient{}, learned: map[string]string{}}
}

// maxLearned bounds the addresses kept of other regions' nodes.
const maxLearned = 4096

// Learn records where the agent of another region's node is.
func (r *Remote) Learn(nodeID, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.learned) >= maxLearned {
		clear(r.learned)
	}
	r.learned[nodeID] = addr
}

// Get returns a client of the node's agent, or false when the node is
// unknown, has no RPC address, or cannot be dialled.
func (r *Remote) Get(nodeID string) (agentapi.Agent, bool) {
	addr := ""
	if node := r.state.Snapshot().NodeByID(nodeID); node != nil {
		addr = node.RPCAddr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if addr == "" {
		addr = r.learned[nodeID]
	}
	if addr == "" {
		return nil, false
	}
	if c, ok := r.clients[nodeID]; ok && c.addr == addr {
		return c.client, true
	}
	conn, err := r.dial.Conn(addr)
	if err != nil {
		return nil, false
	}
	c := agentrpc.NewClient(nodeID, conn)
	r.clients[nodeID] = remoteClient{addr: addr, client: c}
	return c, true
}
