package envdproto

import (
	"fmt"
	"time"
)

// Stream names an output stream in an Output frame.
type Stream byte

// Output streams.
const (
	StreamStdout Stream = 1
	StreamStderr Stream = 2
)

// String names a stream as the API does.
func (s Stream) String() string {
	switch s {
	case StreamStdout:
		return "STDOUT"
	case StreamStderr:
		return "STDERR"
	}
	return fmt.Sprintf("Stream(%d)", byte(s))
}

// Languages envd runs, spelled as in the API's Language enum.
const (
	LangPython     = "PYTHON"
	LangJavaScript = "JAVASCRIPT"
	LangBash       = "BASH"
	LangTypeScript = "TYPESCRIPT"
	LangGo         = "GO"
	LangRust       = "RUST"
	LangJava       = "JAVA"
	LangC          = "C"
	LangCPP        = "CPP"
)

// Defaults envd applies when a request leaves a limit at zero.
const (
	DefaultTimeout        = 5 * time.Minute
	DefaultMaxOutputBytes = 1 << 20
)

// ExecRequest asks envd to run a program. It is the payload of a
// FrameExecRequest.
type ExecRequest struct {
	ID             string            `json:"id,omitempty"` // for logs
	Language       string            `json:"language"`
	Code           string            `json:"code"`
	Stdin          string            `json:"stdin,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	TimeoutMS      int64             `json:"timeoutMs,omitempty"`      // 0: DefaultTimeout
	MaxOutputBytes int               `json:"maxOutputBytes,omitempty"` // per stream; 0: DefaultMaxOutputBytes
	// CPUTimeMS is the CPU-time limit of every process of the execution
	// (RLIMIT_CPU, rounded up to whole seconds); 0: none.
	CPUTimeMS int64 `json:"cpuTimeMs,omitempty"`
	// Args are passed to the program after its own (the script or
	// binary); Cwd is its working directory, absolute ("": envd's
	// WorkDir).
	Args []string `json:"args,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	// ContextID, when set, runs Code in that code-interpreter context
	// (see ContextRequest) instead of a fresh process: Language must be
	// the context's; Args and CPUTimeMS do not apply, Cwd must be empty
	// (the context keeps its own), Env is set for this cell only.
	ContextID string `json:"contextId,omitempty"`
}

// EnvReserved prefixes the environment variables that are envd's own:
// envd never passes a request's Env key with it to the program.
const EnvReserved = "CODEINT_"

// CPUTime returns the request's CPU-time limit; 0 means none.
func (r *ExecRequest) CPUTime() time.Duration {
	if r.CPUTimeMS <= 0 {
		return 0
	}
	return time.Duration(r.CPUTimeMS) * time.Millisecond
}

// Timeout returns the request's wall-clock limit with the default applied.
func (r *ExecRequest) Timeout() time.Duration {
	if r.TimeoutMS <= 0 {
		return DefaultTimeout
	}
	return time.Duration(r.TimeoutMS) * time.Millisecond
}

// OutputLimit returns the per-stream output cap with the default applied.
func (r *ExecRequest) OutputLimit() int {
	if r.MaxOutputBytes <= 0 {
		return DefaultMaxOutputBytes
	}
	return r.MaxOutputBytes
}

// ExecError says why a program failed inside the sandbox.
type ExecError struct {
	Name      string `json:"name"` // e.g. ErrNameTimeout
	Value     string `json:"value,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

// Names of ExecError. The limit names equal the agentapi.Limit* constants
// (this package imports only the standard library, so they are repeated).
const (
	ErrNameTimeout  = "TIMEOUT"        // the wall-clock limit ran out
	ErrNameKilled   = "KILLED"         // a signal ended the process
	ErrNameCPUTime  = "CPU_TIME_LIMIT" // RLIMIT_CPU ended the process (SIGXCPU, or SIGKILL at the hard limit)
	ErrNameDiskFull = "DISK_FULL"      // the program failed with a writable dir full
	ErrNameOOM      = "OOM_KILLED"     // envd's own OOM killer (gVisor) took the program
	ErrNameCompile  = "COMPILE_ERROR"  // the compile step failed; the program did not run
	// ErrNameContextDied: a context's interpreter ended during a cell (it
	// exited, crashed or was killed); envd started it afresh
	// (Result.ContextRestarted) and its state is gone.
	ErrNameContextDied = "CONTEXT_DIED"
	// ErrNameInterrupted is the error of a context cell that was
	// interrupted (ContextInterrupt, or the agent cancelled it); the
	// context and its state survive. Python's own name for it.
	ErrNameInterrupted = "KeyboardInterrupt"
)

// Result is the outcome of an execution, the payload of a FrameResult. The
// output itself travelled in Output frames before it.
type Result struct {
	ExitCode        int        `json:"exitCode"` // 128+signal when a signal ended it
	Truncated       bool       `json:"truncated,omitempty"`
	TimedOut        bool       `json:"timedOut,omitempty"`
	Error           *ExecError `json:"error,omitempty"`
	DurationNS      int64      `json:"durationNs"`
	CPUTimeNS       int64      `json:"cpuTimeNs"` // user + system of the child and its waited-for descendants
	PeakMemoryBytes int64      `json:"peakMemoryBytes"`
	// Compile is the compile step of a compiled language, run before the
	// program; nil for interpreted ones. Its output is here only, never
	// in Output frames.
	Compile *CompileResult `json:"compile,omitempty"`
	// ContextRestarted says a context execution ended its context's
	// interpreter (a timeout it ignored, a crash, the OOM killer): the
	// context was started afresh and its state is gone.
	ContextRestarted bool `json:"contextRestarted,omitempty"`
}

// CompileResult is the outcome of a compile step.
type CompileResult struct {
	ExitCode   int    `json:"exitCode"`
	Stdout     string `json:"stdout,omitempty"`
	Stderr     string `json:"stderr,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	DurationNS int64  `json:"durationNs"`
}

// Error codes carried by Error frames, named as the API's error codes.
const (
	CodeInvalidArgument    = "INVALID_ARGUMENT"
	CodeNotFound           = "NOT_FOUND"
	CodeAlreadyExists      = "ALREADY_EXISTS"
	CodeFailedPrecondition = "FAILED_PRECONDITION" // e.g. a read-only path, a busy context
	CodeResourceExhausted  = "RESOURCE_EXHAUSTED"  // e.g. the disk quota
	CodeInternal           = "INTERNAL"
)

// Error is a request envd could not serve, the payload of a FrameError. It
// implements error so a client can return it as is.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("envd: %s: %s", e.Code, e.Message)
}
