package codeint

import (
	"encoding/json"
	"time"
)

// Languages, as in the GraphQL enum Language.
const (
	Python     = "PYTHON"
	JavaScript = "JAVASCRIPT"
	TypeScript = "TYPESCRIPT"
	Bash       = "BASH"
	Go         = "GO"
	Rust       = "RUST"
	Java       = "JAVA"
	C          = "C"
	CPP        = "CPP"
)

// Sandbox states, as in the GraphQL enum SandboxState.
const (
	StateCreating  = "CREATING"
	StateRunning   = "RUNNING"
	StateExecuting = "EXECUTING"
	StateStopping  = "STOPPING"
	StateStopped   = "STOPPED"
	StateFailed    = "FAILED"
)

// Runtimes, as in the GraphQL enum Runtime.
const (
	RuntimeRunc   = "RUNC"
	RuntimeGVisor = "GVISOR"
)

// Streams of OutputChunk.Stream.
const (
	Stdout = "STDOUT"
	Stderr = "STDERR"
)

// EnvVar is an environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CreateSandboxInput asks for a sandbox; zero fields take the server's
// defaults.
type CreateSandboxInput struct {
	Template       string          `json:"template,omitempty"`
	Region         string          `json:"region,omitempty"`
	Runtime        string          `json:"runtime,omitempty"` // RuntimeRunc or RuntimeGVisor
	TimeoutSeconds int             `json:"timeoutSeconds,omitempty"`
	VCPUs          float64         `json:"vcpus,omitempty"`
	MemoryMB       int             `json:"memoryMB,omitempty"`
	DiskMB         int             `json:"diskMB,omitempty"`
	Env            []EnvVar        `json:"env,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	// Regions to prefer, best first (not with Region); MaxLatencyMs bounds
	// the estimated round trip to the region; ClientCoordinate is the
	// client's own network coordinate.
	Regions          []string    `json:"regions,omitempty"`
	MaxLatencyMs     float64     `json:"maxLatencyMs,omitempty"`
	ClientCoordinate *Coordinate `json:"clientCoordinate,omitempty"`
	// NodeSelector lists labels the node must carry.
	NodeSelector []Label `json:"nodeSelector,omitempty"`
}

// Label is a node label (agent --label KEY=VALUE).
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Sandbox is an isolated environment that runs code.
type Sandbox struct {
	ID             string          `json:"id"`
	State          string          `json:"state"`
	StopReason     string          `json:"stopReason"`
	Error          string          `json:"error"`
	Template       string          `json:"template"`
	Region         string          `json:"region"`
	Runtime        string          `json:"runtime"`
	NodeID         string          `json:"nodeId"`
	VCPUs          float64         `json:"vcpus"`
	MemoryMB       int             `json:"memoryMB"`
	DiskMB         int             `json:"diskMB"`
	TimeoutSeconds int             `json:"timeoutSeconds"`
	CreatedAt      time.Time       `json:"createdAt"`
	StartedAt      *time.Time      `json:"startedAt"`
	StoppedAt      *time.Time      `json:"stoppedAt"`
	ExpiresAt      *time.Time      `json:"expiresAt"`
	Metadata       json.RawMessage `json:"metadata"`
	EnvNames       []string        `json:"envNames"`
	Placement      *Placement      `json:"placement"`
	Usage          *SandboxUsage   `json:"usage"` // nil before its first metered record
}

// SandboxUsage is what the ledger holds of a sandbox: metered usage and
// its cost at list price.
type SandboxUsage struct {
	SandboxSeconds  float64 `json:"sandboxSeconds"`
	VCPUSeconds     float64 `json:"vcpuSeconds"`
	GiBSeconds      float64 `json:"gibSeconds"`
	CPUSeconds      float64 `json:"cpuSeconds"`
	PeakMemoryBytes int64   `json:"peakMemoryBytes"`
	CostMicros      int64   `json:"costMicros"`
	Final           bool    `json:"final"` // it stopped and is fully metered
}

// ExecuteInput is one execution request; Language is one of the language
// constants (Python, Bash, …).
type ExecuteInput struct {
	Language       string   `json:"language"`
	Code           string   `json:"code"`
	ContextID      string   `json:"contextId,omitempty"`
	TimeoutSeconds int      `json:"timeoutSeconds,omitempty"`
	CPUTimeLimit   int      `json:"cpuTimeLimitSeconds,omitempty"` // seconds of CPU time
	Stdin          string   `json:"stdin,omitempty"`
	Env            []EnvVar `json:"env,omitempty"`
	Args           []string `json:"args,omitempty"`
	Cwd            string   `json:"cwd,omitempty"`
}

// ExecutionResult is the outcome of one execution.
type ExecutionResult struct {
	ID        string           `json:"id"`
	Stdout    string           `json:"stdout"`
	Stderr    string           `json:"stderr"`
	ExitCode  int              `json:"exitCode"`
	Results   []DisplayData    `json:"results"`
	Error     *ExecutionError  `json:"error"`
	Truncated bool             `json:"truncated"`
	Metrics   ExecutionMetrics `json:"metrics"`
	// Compile is a compiled language's compile step; nil otherwise.
	Compile *CompileResult `json:"compile"`
	// ContextRestarted: the context's interpreter ended during the
	// execution and was started afresh; its state is gone.
	ContextRestarted bool `json:"contextRestarted"`
}

// CompileResult is the compile step of an execution, its output apart from
// the run's.
type CompileResult struct {
	ExitCode   int     `json:"exitCode"`
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	Truncated  bool    `json:"truncated"`
	DurationMs float64 `json:"durationMs"`
}

// LanguageInfo is a language as a template offers it.
type LanguageInfo struct {
	Language string `json:"language"`
	Version  string `json:"version"`
	Compiled bool   `json:"compiled"`
}

// ExecutionError is a failure inside the sandbox: a timeout, a signal, a
// language error.
type ExecutionError struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Traceback string `json:"traceback"`
}

// ExecutionMetrics is what an execution cost.
type ExecutionMetrics struct {
	DurationMs      float64 `json:"durationMs"`
	CPUTimeMs       float64 `json:"cpuTimeMs"`
	PeakMemoryBytes int64   `json:"peakMemoryBytes"`
}

// DisplayData is a rich result by MIME type.
type DisplayData struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// OutputChunk is a piece of output as the process wrote it; Seq orders the
// chunks of both streams.
type OutputChunk struct {
	Stream string `json:"stream"`
	Data   string `json:"data"`
	Seq    int    `json:"seq"`
}

// ExecutionStarted is the first event of a streamed execution.
type ExecutionStarted struct {
	ExecutionID string    `json:"executionId"`
	SandboxID   string    `json:"sandboxId"`
	StartedAt   time.Time `json:"startedAt"`
}

// SandboxEvent is a committed change to a sandbox.
type SandboxEvent struct {
	Type    string    `json:"type"` // CREATED, STATE_CHANGED or TIMEOUT_CHANGED
	Sandbox Sandbox   `json:"sandbox"`
	At      time.Time `json:"at"`
	Index   int64     `json:"index"`
}

// Viewer is the calling team and key.
type Viewer struct {
	Team Team   `json:"team"`
	Key  APIKey `json:"key"`
}

// Team owns sandboxes and API keys.
type Team struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// APIKey describes the key a client uses; never its secret.
type APIKey struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Prefix  string `json:"prefix"`
	Admin   bool   `json:"admin"`
	Revoked bool   `json:"revoked"`
}
