package agent

import (
	"errors"
	"log/slog"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Errors of the agent. The control plane maps ErrUnknownSandbox to
// NOT_FOUND, ErrSandboxExists to FAILED_PRECONDITION and ErrInvalidRequest
// to INVALID_ARGUMENT. Starts also fail with errors wrapping
// agentapi.ErrRuntimeUnavailable (gVisor not installed) and
// agentapi.ErrNoCapacity (no uid range left).
var (
	// ErrUnknownSandbox is returned for a sandbox this agent does not run.
	ErrUnknownSandbox = errors.New("agent: unknown sandbox")
	// ErrSandboxExists is returned by StartSandbox for an id in use.
	ErrSandboxExists = errors.New("agent: sandbox already exists")
	// ErrInvalidRequest is returned for a request the agent cannot serve
	// (a malformed id, an unknown template or runtime).
	ErrInvalidRequest = errors.New("agent: invalid request")
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("agent: closed")
)

// Defaults of Config.
const (
	DefaultStartTimeout = 10 * time.Second // how long StartSandbox waits for envd to answer
	DefaultUIDRanges    = 2048             // sandboxes with a uid range of their own at once
)

// Config configures an Agent.
type Config struct {
	NodeID   string
	DataDir  string // bundles and runtime state; its ancestors must be mode o+x (see package runc)
	RuncPath string // default: runc from PATH
	// RunscPath is gVisor's runsc; default: runsc from PATH. When it is
	// missing the agent runs runc sandboxes only, and a GVISOR start fails
	// with agentapi.ErrRuntimeUnavailable.
	RunscPath string
	EnvdPath  string // the static envd binary, bound into every sandbox
	// UIDBase is the first host uid (and gid) of the sandboxes' ranges;
	// default runc.DefaultUIDBase. Sandbox i maps container ids 0..65535
	// to UIDBase + i·65536 onwards.
	UIDBase uint32
	// UIDRanges is how many ranges, hence sandboxes at once; default
	// DefaultUIDRanges. A start beyond fails with agentapi.ErrNoCapacity.
	UIDRanges int
	// CgroupParent names the cgroup every sandbox's cgroup is created
	// under; default "codeint". Reconcile removes everything under it, so
	// two agents on one host need different parents (and UIDBase windows).
	CgroupParent string
	// ParentCPUWeight is CgroupParent's CPU weight against the host's
	// other processes, in cgroup v2 units (1..10000); default
	// runc.DefaultParentCPUWeight, the lowest: sandboxes yield the CPU to
	// the platform.
	ParentCPUWeight uint64
	StartTimeout    time.Duration // default DefaultStartTimeout
	Logger          *slog.Logger
	// OnExit is called, once and after cleanup, for a sandbox that ended
	// without StopSandbox (reason structs.StopReasonExited). May be nil.
	OnExit agentapi.ExitFunc
}
