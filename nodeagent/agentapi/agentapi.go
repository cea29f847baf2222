package agentapi

import (
	"context"
	"errors"
	"net"
	"time"
)

// Errors an agent returns that the control plane maps to API codes.
var (
	// ErrRuntimeUnavailable: the requested OCI runtime (e.g. runsc) is not
	// installed on the node → FAILED_PRECONDITION, saying what to install.
	ErrRuntimeUnavailable = errors.New("runtime not available on this node")
	// ErrNoCapacity: the node cannot take another sandbox now (uid ranges,
	// pool memory, …) → RESOURCE_EXHAUSTED.
	ErrNoCapacity = errors.New("node has no capacity left")
)

// Runtime is the OCI runtime that isolates a sandbox.
type Runtime string

// Runtimes.
const (
	RuntimeRunc   Runtime = "RUNC"   // runc: namespaces, cgroups, seccomp
	RuntimeGVisor Runtime = "GVISOR" // gVisor's runsc: a user-space kernel
)

// Limit kinds: the ExecError.Name of an execution that a limit ended, and
// the kind label of resource_limit_errors_total.
const (
	LimitTimeout = "TIMEOUT"        // wall-clock timeout of the execution
	LimitOOM     = "OOM_KILLED"     // the sandbox's memory limit
	LimitCPUTime = "CPU_TIME_LIMIT" // the execution's CPU-time limit
	LimitPids    = "PIDS_LIMIT"     // the sandbox's process limit was hit
	LimitDisk    = "DISK_FULL"      // a writable dir's size quota was hit
)

// Agent is what the control plane needs of a node agent. Implementations are
// safe for concurrent use.
type Agent interface {
	// NodeID names the node this agent runs on.
	NodeID() string
	// StartSandbox starts a sandbox and returns once envd inside it answers.
	StartSandbox(ctx context.Context, req StartRequest) (StartResult, error)
	// StopSandbox kills a sandbox and removes everything it left on the
	// host. Stopping an unknown or already stopped sandbox is not an error.
	StopSandbox(ctx context.Context, sandboxID string) error
	// Execute runs code in a sandbox. onOutput, when not nil, is called for
	// every chunk in the order the process wrote it, before Execute returns.
	Execute(ctx context.Context, sandboxID string, req ExecRequest, onOutput func(OutputChunk)) (ExecResult, error)
	// Sandboxes lists the ids of the sandboxes that run on this node now.
	Sandboxes(ctx context.Context) ([]string, error)
	// OpenEnvd opens a stream to the envd of a running sandbox, for one
	// request of package envdproto (contexts, files, processes); the
	// caller closes it. Closing the stream cancels the request.
	OpenEnvd(ctx context.Context, sandboxID string) (net.Conn, error)
}

// WarmClaimer is implemented by agents that keep warm sandboxes. ClaimWarm
// binds req's sandbox id to a ready sandbox of req's shape in microseconds
// and reports true, or reports false (nothing started) when none is ready;
// the caller then uses StartSandbox.
type WarmClaimer interface {
	ClaimWarm(ctx context.Context, req StartRequest) (StartResult, bool, error)
}

// ExitFunc is called by an agent when a sandbox ends without being asked
// to (envd exited, the container was killed). reason is one of the
// structs.StopReason values.
type ExitFunc func(sandboxID, reason string)

// StartRequest asks an agent to start one sandbox.
type StartRequest struct {
	SandboxID string
	TeamID    string
	Template  string
	Runtime   Runtime // "" = RuntimeRunc
	VCPUs     float64
	MemoryMB  int
	DiskMB    int
	Env       map[string]string
}

// StartResult says where and how fast a sandbox started.
type StartResult struct {
	NodeID   string
	Duration time.Duration
}

// Language is a language envd can run, as in the GraphQL enum.
type Language string

// Languages envd runs.
const (
	Python     Language = "PYTHON"
	JavaScript Language = "JAVASCRIPT"
	Bash       Language = "BASH"
	TypeScript Language = "TYPESCRIPT"
	Go         Language = "GO"
	Rust       Language = "RUST"
	Java       Language = "JAVA"
	C          Language = "C"
	CPP        Language = "CPP"
)

// ExecRequest asks for one execution inside a sandbox.
type ExecRequest struct {
	ExecutionID    string
	Language       Language
	Code           string
	Stdin          string
	Env            map[string]string
	Timeout        time.Duration // wall-clock limit; the process is killed after it
	CPUTime        time.Duration // CPU-time limit (RLIMIT_CPU); 0 = none
	MaxOutputBytes int           // per stream; output beyond it is dropped and Truncated set
	Args           []string      // the program's arguments
	Cwd            string        // working directory inside the sandbox; "" = the user's home
	// ContextID runs Code in that code-interpreter context, which keeps
	// state between executions (Args, Cwd and CPUTime do not apply).
	ContextID string
}

// Stream names an output stream.
type Stream string

// Streams.
const (
	Stdout Stream = "STDOUT"
	Stderr Stream = "STDERR"
)

// OutputChunk is a piece of output as the process wrote it, or, for an
// execution in a context, a rich result (Display set; Stream and Data
// empty). Seq starts at 1 and counts all chunks together, so it orders
// them.
type OutputChunk struct {
	Stream  Stream
	Data    []byte
	Display *DisplayData
	Seq     int64
}

// DisplayData is a rich result of an execution in a context: a trailing
// expression's value, a figure, what the program displayed.
type DisplayData struct {
	Type string // MIME type: text/plain, image/png, …
	Data string // text as is, binary base64-encoded
}

// ExecError describes why an execution failed inside the sandbox (as
// opposed to an API error): a timeout, a signal, a language error.
type ExecError struct {
	Name      string // e.g. TIMEOUT, KILLED
	Value     string
	Traceback string
}

// ExecResult is the outcome of one execution.
type ExecResult struct {
	Stdout          string
	Stderr          string
	ExitCode        int
	Truncated       bool
	TimedOut        bool
	Error           *ExecError
	Duration        time.Duration
	CPUTime         time.Duration
	PeakMemoryBytes int64
	// Compile is a compiled language's compile step, nil for interpreted
	// languages; its output is not in Stdout and Stderr.
	Compile *CompileResult
	// Results are the rich results of an execution in a context, in the
	// order they were streamed.
	Results []DisplayData
	// ContextRestarted says the context's interpreter ended during the
	// execution and was started afresh: its state is gone.
	ContextRestarted bool
}

// CompileResult is the outcome of a compile step.
type CompileResult struct {
	ExitCode  int
	Stdout    string
	Stderr    string
	Truncated bool
	Duration  time.Duration
}
