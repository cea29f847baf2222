package envdproto

// Process operations (ProcessRequest.Op).
const (
	// ProcessStart starts a command; reply: the process. The stream then
	// carries it as an attach does, unless Detach is set (then it closes).
	ProcessStart = "start"
	// ProcessAttach streams PID's output: first what it wrote before
	// (kept up to a bound), then live Output frames, then one
	// FrameProcessExit. Closing the stream detaches; the process lives on.
	ProcessAttach = "attach"
	ProcessList   = "list"   // reply: every process envd started (running, and exited ones not yet removed)
	ProcessInput  = "input"  // write Data to PID's stdin (its terminal for a PTY); reply: the process
	ProcessClose  = "close"  // close PID's stdin (a PTY gets an EOT, ^D, instead); reply: the process
	ProcessSignal = "signal" // send Signal to PID's process group (a PTY's foreground group too); reply: the process
	ProcessResize = "resize" // resize PID's terminal; reply: the process
)

// PTYSize is a terminal's size.
type PTYSize struct {
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
}

// ProcessRequest starts or controls a command that outlives the request
// that started it (background commands, terminals). It is the payload of
// a FrameProcessRequest; envd answers with a FrameProcessReply or a
// FrameError (NOT_FOUND for an unknown PID).
type ProcessRequest struct {
	Op  string `json:"op"`
	PID int    `json:"pid,omitempty"` // all but start and list

	// start
	Cmd   string            `json:"cmd,omitempty"` // a program (looked up in PATH) …
	Args  []string          `json:"args,omitempty"`
	Cwd   string            `json:"cwd,omitempty"` // absolute; "": the user's home
	Env   map[string]string `json:"env,omitempty"`
	Stdin string            `json:"stdin,omitempty"` // written at start; see KeepStdin
	// KeepStdin leaves stdin open after Stdin for ProcessInput; otherwise
	// it is closed after Stdin.
	KeepStdin bool     `json:"keepStdin,omitempty"`
	PTY       *PTYSize `json:"pty,omitempty"` // run in a terminal of this size (stdin kept open)
	Detach    bool     `json:"detach,omitempty"`
	// TimeoutMS kills the process after so long; 0: it lives as long as
	// the sandbox.
	TimeoutMS int64  `json:"timeoutMs,omitempty"`
	Tag       string `json:"tag,omitempty"` // the caller's label, shown in list

	// input
	Data []byte `json:"data,omitempty"`
	// signal: SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGSTOP, SIGCONT
	Signal string `json:"signal,omitempty"`
	// resize
	Size *PTYSize `json:"size,omitempty"`
}

// ProcessInfo describes one process.
type ProcessInfo struct {
	PID         int          `json:"pid"`
	Cmd         string       `json:"cmd"`
	Args        []string     `json:"args,omitempty"`
	Cwd         string       `json:"cwd"`
	Tag         string       `json:"tag,omitempty"`
	PTY         bool         `json:"pty,omitempty"`
	StartedAtNS int64        `json:"startedAtNs"`
	Running     bool         `json:"running"`
	Exit        *ProcessExit `json:"exit,omitempty"` // once it ended
}

// ProcessReply answers a ProcessRequest.
type ProcessReply struct {
	Processes []ProcessInfo `json:"processes"` // one, or all for list
}

// ProcessExit is how a process ended, the last frame of an attach.
type ProcessExit struct {
	ExitCode int    `json:"exitCode"` // 128+signal when a signal ended it
	Signal   string `json:"signal,omitempty"`
	TimedOut bool   `json:"timedOut,omitempty"`
	// Truncated says output was dropped from the kept history (not from
	// live attaches).
	Truncated bool  `json:"truncated,omitempty"`
	EndedAtNS int64 `json:"endedAtNs"`
}
