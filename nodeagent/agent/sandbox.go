package agent

import (
	"sync/atomic"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/runc"
)

// sandbox is one sandbox the agent started. Every field but the channels
// and flags is set before ready closes and never changes after.
type sandbox struct {
	id        string
	runtime   agentapi.Runtime
	rt        *runc.Runtime
	uidBase   uint32 // first host uid of its range; 0 until allocated
	memoryMB  int
	vcpus     float64
	pidsLimit int64
	container *runc.Container
	client    *envdclient.Client

	ready    chan struct{} // closed when envd answered its first ping
	stopping atomic.Bool   // set by the first finish
	stopped  chan struct{} // closed when finish is done; stopErr is set
	stopErr  error
}

func newSandbox(id string) *sandbox {
	return &sandbox{id: id, ready: make(chan struct{}), stopped: make(chan struct{})}
}

// running reports whether the sandbox has started and is not stopping.
func (sb *sandbox) running() bool {
	select {
	case <-sb.ready:
		return !sb.stopping.Load()
	default:
		return false
	}
}
