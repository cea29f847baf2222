package graph

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/graph/model"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Conversions of contexts, files and processes between the service and
// the schema.

func toContext(c *sandboxes.Context) *model.Context {
	return &model.Context{ID: c.ID, SandboxID: c.SandboxID, Language: model.Language(c.Language), Cwd: c.Cwd,
		CreatedAt: c.CreatedAt, Busy: c.Busy}
}

func toDisplayData(in []agentapi.DisplayData) []*model.DisplayData {
	out := make([]*model.DisplayData, 0, len(in))
	for _, d := range in {
		out = append(out, &model.DisplayData{Type: d.Type, Data: d.Data})
	}
	return out
}

func toFileInfo(f *sandboxes.FileInfo) *model.FileInfo {
	out := &model.FileInfo{Name: f.Name, Path: f.Path, Type: model.FileType(f.Type), Size: f.Size, Mode: int(f.Mode),
		ModifiedAt: f.ModTime}
	if f.SHA256 != "" {
		out.Sha256 = &f.SHA256
	}
	if f.LinkTarget != "" {
		out.LinkTarget = &f.LinkTarget
	}
	return out
}

func toProcess(p *sandboxes.Process) *model.Process {
	out := &model.Process{Pid: p.PID, Cmd: p.Cmd, Args: p.Args, Cwd: p.Cwd, Pty: p.PTY, StartedAt: p.StartedAt,
		Running: p.Running, Exit: toProcessExit(p.Exit)}
	if out.Args == nil {
		out.Args = []string{}
	}
	if p.Tag != "" {
		out.Tag = &p.Tag
	}
	return out
}

func toProcessExit(e *sandboxes.ProcessExit) *model.ProcessExit {
	if e == nil {
		return nil
	}
	out := &model.ProcessExit{ExitCode: e.ExitCode, TimedOut: e.TimedOut, Truncated: e.Truncated, EndedAt: e.EndedAt}
	if e.Signal != "" {
		out.Signal = &e.Signal
	}
	return out
}

func toProcessEvent(ev sandboxes.ProcessEvent) model.ProcessEvent {
	switch {
	case ev.Started != nil:
		return toProcess(ev.Started)
	case ev.Output != nil:
		return &model.ProcessOutput{Stream: model.Stream(ev.Output.Stream), Data: strings.ToValidUTF8(string(ev.Output.Data), "\uFFFD"),
			DataBase64: base64.StdEncoding.EncodeToString(ev.Output.Data)}
	case ev.Exit != nil:
		return toProcessExit(ev.Exit)
	}
	return nil
}

func toProcessInput(in model.CommandInput) sandboxes.ProcessInput {
	out := sandboxes.ProcessInput{Cmd: in.Cmd, Args: in.Args, Cwd: deref(in.Cwd), Env: toEnv(in.Env),
		Stdin: deref(in.Stdin), KeepStdin: in.KeepStdin != nil && *in.KeepStdin, Tag: deref(in.Tag)}
	if in.TimeoutSeconds != nil {
		out.Timeout = time.Duration(*in.TimeoutSeconds) * time.Second
	}
	return out
}

// Default terminal size and program.
const (
	defaultTermCols = 80
	defaultTermRows = 24
	defaultTermCmd  = "bash"
)

func toTerminalInput(in *model.TerminalInput) sandboxes.ProcessInput {
	out := sandboxes.ProcessInput{Cmd: defaultTermCmd, PTY: &sandboxes.TerminalSize{Cols: defaultTermCols, Rows: defaultTermRows}}
	if in == nil {
		return out
	}
	if in.Cmd != nil {
		out.Cmd = *in.Cmd
	}
	out.Args, out.Cwd, out.Env = in.Args, deref(in.Cwd), toEnv(in.Env)
	if in.Cols != nil {
		out.PTY.Cols = *in.Cols
	}
	if in.Rows != nil {
		out.PTY.Rows = *in.Rows
	}
	return out
}

// decodeContent turns a String of the API into bytes by its encoding.
func decodeContent(content string, enc *model.Encoding) ([]byte, error) {
	if enc == nil || *enc == model.EncodingUTF8 {
		return []byte(content), nil
	}
	b, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		return nil, apperr.New(apperr.InvalidArgument, "content is not valid base64: %v", err)
	}
	return b, nil
}

// encodeContent turns bytes into a String of the API by its encoding.
func encodeContent(b []byte, enc *model.Encoding) string {
	if enc != nil && *enc == model.EncodingBase64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
