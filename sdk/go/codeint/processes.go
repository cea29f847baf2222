package codeint

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// CommandInput is a command to start in a sandbox.
type CommandInput struct {
	Cmd            string   `json:"cmd"`
	Args           []string `json:"args,omitempty"`
	Cwd            string   `json:"cwd,omitempty"`
	Env            []EnvVar `json:"env,omitempty"`
	Stdin          string   `json:"stdin,omitempty"`
	KeepStdin      bool     `json:"keepStdin,omitempty"`
	TimeoutSeconds int      `json:"timeoutSeconds,omitempty"`
	Tag            string   `json:"tag,omitempty"`
}

// TerminalInput is a terminal to open; zero fields take the defaults
// (80x24, bash, the user's home).
type TerminalInput struct {
	Cols int      `json:"cols,omitempty"`
	Rows int      `json:"rows,omitempty"`
	Cmd  string   `json:"cmd,omitempty"`
	Args []string `json:"args,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	Env  []EnvVar `json:"env,omitempty"`
}

// Process is a command or terminal in a sandbox; PID is its handle.
type Process struct {
	PID       int          `json:"pid"`
	Cmd       string       `json:"cmd"`
	Args      []string     `json:"args"`
	Cwd       string       `json:"cwd"`
	Tag       string       `json:"tag"`
	PTY       bool         `json:"pty"`
	StartedAt time.Time    `json:"startedAt"`
	Running   bool         `json:"running"`
	Exit      *ProcessExit `json:"exit"`
}

// ProcessExit is how a process ended.
type ProcessExit struct {
	ExitCode  int       `json:"exitCode"`
	Signal    string    `json:"signal"`
	TimedOut  bool      `json:"timedOut"`
	Truncated bool      `json:"truncated"`
	EndedAt   time.Time `json:"endedAt"`
}

// ProcessOutput is a piece of a process's output.
type ProcessOutput struct {
	Stream string `json:"stream"`
	Data   []byte `json:"-"` // exact bytes
}

// CommandResult is the whole result of RunCommand.
type CommandResult struct {
	Process Process     `json:"process"`
	Stdout  string      `json:"stdout"`
	Stderr  string      `json:"stderr"`
	Exit    ProcessExit `json:"exit"`
}

// ProcessEvent is one event of a followed process: exactly one field is set.
type ProcessEvent struct {
	Started *Process
	Output  *ProcessOutput
	Exit    *ProcessExit
}

const (
	exitFields    = `exitCode signal timedOut truncated endedAt`
	processFields = `pid cmd args cwd tag pty startedAt running exit { ` + exitFields + ` }`
	processEvent  = `__typename
    ... on Process { ` + processFields + ` }
    ... on ProcessOutput { stream dataBase64 }
    ... on ProcessExit { ` + exitFields + ` }`
)

// StartCommand starts a command in the background and returns its handle.
func (c *Client) StartCommand(ctx context.Context, sandboxID string, in CommandInput) (*Process, error) {
	return c.processOp(ctx, "startCommand", `$input: CommandInput!`, `input: $input`, map[string]any{"id": sandboxID, "input": in})
}

// RunCommand runs a command to its end.
func (c *Client) RunCommand(ctx context.Context, sandboxID string, in CommandInput) (*CommandResult, error) {
	var out struct {
		Result CommandResult `json:"runCommand"`
	}
	q := `mutation ($id: ID!, $input: CommandInput!) { runCommand(sandboxId: $id, input: $input) { process { ` + processFields +
		` } stdout stderr exit { ` + exitFields + ` } } }`
	if err := c.Do(ctx, q, map[string]any{"id": sandboxID, "input": in}, &out); err != nil {
		return nil, err
	}
	return &out.Result, nil
}

// OpenTerminal opens a terminal; follow it with FollowProcess and type
// into it with SendInput.
func (c *Client) OpenTerminal(ctx context.Context, sandboxID string, in TerminalInput) (*Process, error) {
	return c.processOp(ctx, "openTerminal", `$input: TerminalInput`, `input: $input`, map[string]any{"id": sandboxID, "input": in})
}

// SendInput writes data to a process's stdin (a terminal's keyboard).
func (c *Client) SendInput(ctx context.Context, sandboxID string, pid int, data []byte) (*Process, error) {
	return c.processOp(ctx, "sendInput", `$pid: Int!, $d: String!`, `pid: $pid, data: $d, encoding: BASE64`,
		map[string]any{"id": sandboxID, "pid": pid, "d": base64.StdEncoding.EncodeToString(data)})
}

// CloseStdin closes a process's stdin.
func (c *Client) CloseStdin(ctx context.Context, sandboxID string, pid int) (*Process, error) {
	return c.processOp(ctx, "closeStdin", `$pid: Int!`, `pid: $pid`, map[string]any{"id": sandboxID, "pid": pid})
}

// SignalProcess sends a signal (SIGTERM, SIGINT, …) to a process's group.
func (c *Client) SignalProcess(ctx context.Context, sandboxID string, pid int, signal string) (*Process, error) {
	return c.processOp(ctx, "signalProcess", `$pid: Int!, $s: String!`, `pid: $pid, signal: $s`,
		map[string]any{"id": sandboxID, "pid": pid, "s": signal})
}

// KillProcess kills a process and all it started.
func (c *Client) KillProcess(ctx context.Context, sandboxID string, pid int) (*Process, error) {
	return c.processOp(ctx, "killProcess", `$pid: Int!`, `pid: $pid`, map[string]any{"id": sandboxID, "pid": pid})
}

// ResizeTerminal resizes a terminal.
func (c *Client) ResizeTerminal(ctx context.Context, sandboxID string, pid, cols, rows int) (*Process, error) {
	return c.processOp(ctx, "resizeTerminal", `$pid: Int!, $c: Int!, $r: Int!`, `pid: $pid, cols: $c, rows: $r`,
		map[string]any{"id": sandboxID, "pid": pid, "c": cols, "r": rows})
}

// Processes lists a sandbox's commands and terminals.
func (c *Client) Processes(ctx context.Context, sandboxID string) ([]Process, error) {
	var out struct {
		Processes []Process `json:"processes"`
	}
	err := c.Do(ctx, `query ($id: ID!) { processes(sandboxId: $id) { `+processFields+` } }`, map[string]any{"id": sandboxID}, &out)
	return out.Processes, err
}

func (c *Client) processOp(ctx context.Context, op, params, args string, vars map[string]any) (*Process, error) {
	var out map[string]Process
	q := `mutation ($id: ID!, ` + params + `) { ` + op + `(sandboxId: $id, ` + args + `) { ` + processFields + ` } }`
	if err := c.Do(ctx, q, vars, &out); err != nil {
		return nil, err
	}
	p := out[op]
	return &p, nil
}

// FollowProcess calls fn for a process's output (what it wrote before,
// then live) and then its exit, which it returns; ending ctx detaches and
// leaves the process running.
func (c *Client) FollowProcess(ctx context.Context, sandboxID string, pid int, fn func(ProcessEvent)) (*ProcessExit, error) {
	q := `subscription ($id: ID!, $pid: Int!) { processEvents(sandboxId: $id, pid: $pid) { ` + processEvent + ` } }`
	return c.followProcess(ctx, q, "processEvents", map[string]any{"id": sandboxID, "pid": pid}, fn)
}

// StreamCommand starts a command and calls fn with the Process, its
// output and its exit, which it returns.
func (c *Client) StreamCommand(ctx context.Context, sandboxID string, in CommandInput, fn func(ProcessEvent)) (*ProcessExit, error) {
	q := `subscription ($id: ID!, $input: CommandInput!) { command(sandboxId: $id, input: $input) { ` + processEvent + ` } }`
	return c.followProcess(ctx, q, "command", map[string]any{"id": sandboxID, "input": in}, fn)
}

func (c *Client) followProcess(ctx context.Context, q, field string, vars map[string]any, fn func(ProcessEvent)) (*ProcessExit, error) {
	return untilLast(ctx, c, q, field, vars, "process", "its exit", func(raw json.RawMessage) (*ProcessExit, error) {
		ev, err := decodeProcessEvent(raw)
		if err != nil {
			return nil, err
		}
		if fn != nil {
			fn(ev)
		}
		return ev.Exit, nil
	})
}

func decodeProcessEvent(raw json.RawMessage) (ProcessEvent, error) {
	var head struct {
		Typename   string `json:"__typename"`
		Stream     string `json:"stream"`
		DataBase64 string `json:"dataBase64"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return ProcessEvent{}, fmt.Errorf("codeint: decode process event: %w", err)
	}
	var ev ProcessEvent
	var err error
	switch head.Typename {
	case "Process":
		ev.Started = &Process{}
		err = json.Unmarshal(raw, ev.Started)
	case "ProcessOutput":
		var data []byte
		data, err = base64.StdEncoding.DecodeString(head.DataBase64)
		ev.Output = &ProcessOutput{Stream: head.Stream, Data: data}
	case "ProcessExit":
		ev.Exit = &ProcessExit{}
		err = json.Unmarshal(raw, ev.Exit)
	default:
		return ev, fmt.Errorf("codeint: unknown process event %q", head.Typename)
	}
	if err != nil {
		return ev, fmt.Errorf("codeint: decode %s: %w", head.Typename, err)
	}
	return ev, nil
}
