package agentrpc

import (
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/agentrpc/agentpb"
)

// The functions below translate agentapi values to their wire messages
// and back, field for field. Empty maps, slices and byte strings come back
// as nil: the wire cannot tell them apart.

func startRequestToPB(r agentapi.StartRequest) *agentpb.StartRequest {
	return &agentpb.StartRequest{
		SandboxId: r.SandboxID,
		TeamId:    r.TeamID,
		Template:  r.Template,
		Runtime:   string(r.Runtime),
		Vcpus:     r.VCPUs,
		MemoryMb:  int64(r.MemoryMB),
		DiskMb:    int64(r.DiskMB),
		Env:       r.Env,
	}
}

func startRequestFromPB(r *agentpb.StartRequest) agentapi.StartRequest {
	return agentapi.StartRequest{
		SandboxID: r.GetSandboxId(),
		TeamID:    r.GetTeamId(),
		Template:  r.GetTemplate(),
		Runtime:   agentapi.Runtime(r.GetRuntime()),
		VCPUs:     r.GetVcpus(),
		MemoryMB:  int(r.GetMemoryMb()),
		DiskMB:    int(r.GetDiskMb()),
		Env:       nilIfEmptyMap(r.GetEnv()),
	}
}

func startResultToPB(r agentapi.StartResult) *agentpb.StartResult {
	return &agentpb.StartResult{NodeId: r.NodeID, DurationNs: int64(r.Duration)}
}

func startResultFromPB(r *agentpb.StartResult) agentapi.StartResult {
	return agentapi.StartResult{NodeID: r.GetNodeId(), Duration: time.Duration(r.GetDurationNs())}
}

func execRequestToPB(sandboxID string, r agentapi.ExecRequest) *agentpb.ExecRequest {
	return &agentpb.ExecRequest{
		SandboxId:      sandboxID,
		ExecutionId:    r.ExecutionID,
		Language:       string(r.Language),
		Code:           r.Code,
		Stdin:          r.Stdin,
		Env:            r.Env,
		TimeoutNs:      int64(r.Timeout),
		CpuTimeNs:      int64(r.CPUTime),
		MaxOutputBytes: int64(r.MaxOutputBytes),
		Args:           r.Args,
		Cwd:            r.Cwd,
		ContextId:      r.ContextID,
	}
}

func execRequestFromPB(r *agentpb.ExecRequest) (sandboxID string, req agentapi.ExecRequest) {
	return r.GetSandboxId(), agentapi.ExecRequest{
		ExecutionID:    r.GetExecutionId(),
		Language:       agentapi.Language(r.GetLanguage()),
		Code:           r.GetCode(),
		Stdin:          r.GetStdin(),
		Env:            nilIfEmptyMap(r.GetEnv()),
		Timeout:        time.Duration(r.GetTimeoutNs()),
		CPUTime:        time.Duration(r.GetCpuTimeNs()),
		MaxOutputBytes: int(r.GetMaxOutputBytes()),
		Args:           nilIfEmpty(r.GetArgs()),
		Cwd:            r.GetCwd(),
		ContextID:      r.GetContextId(),
	}
}

func chunkToPB(c agentapi.OutputChunk) *agentpb.OutputChunk {
	return &agentpb.OutputChunk{
		Stream:  string(c.Stream),
		Data:    c.Data,
		Display: displayToPB(c.Display),
		Seq:     c.Seq,
	}
}

func chunkFromPB(c *agentpb.OutputChunk) agentapi.OutputChunk {
	return agentapi.OutputChunk{
		Stream:  agentapi.Stream(c.GetStream()),
		Data:    nilIfEmpty(c.GetData()),
		Display: displayFromPB(c.GetDisplay()),
		Seq:     c.GetSeq(),
	}
}

func displayToPB(d *agentapi.DisplayData) *agentpb.DisplayData {
	if d == nil {
		return nil
	}
	return &agentpb.DisplayData{Type: d.Type, Data: d.Data}
}

func displayFromPB(d *agentpb.DisplayData) *agentapi.DisplayData {
	if d == nil {
		return nil
	}
	return &agentapi.DisplayData{Type: d.GetType(), Data: d.GetData()}
}

func execResultToPB(r agentapi.ExecResult) *agentpb.ExecResult {
	out := &agentpb.ExecResult{
		Stdout:           r.Stdout,
		Stderr:           r.Stderr,
		ExitCode:         int64(r.ExitCode),
		Truncated:        r.Truncated,
		TimedOut:         r.TimedOut,
		DurationNs:       int64(r.Duration),
		CpuTimeNs:        int64(r.CPUTime),
		PeakMemoryBytes:  r.PeakMemoryBytes,
		ContextRestarted: r.ContextRestarted,
	}
	if r.Error != nil {
		out.Error = &agentpb.ExecError{Name: r.Error.Name, Value: r.Error.Value, Traceback: r.Error.Traceback}
	}
	if c := r.Compile; c != nil {
		out.Compile = &agentpb.CompileResult{
			ExitCode:   int64(c.ExitCode),
			Stdout:     c.Stdout,
			Stderr:     c.Stderr,
			Truncated:  c.Truncated,
			DurationNs: int64(c.Duration),
		}
	}
	for i := range r.Results {
		out.Results = append(out.Results, displayToPB(&r.Results[i]))
	}
	return out
}

func execResultFromPB(r *agentpb.ExecResult) agentapi.ExecResult {
	out := agentapi.ExecResult{
		Stdout:           r.GetStdout(),
		Stderr:           r.GetStderr(),
		ExitCode:         int(r.GetExitCode()),
		Truncated:        r.GetTruncated(),
		TimedOut:         r.GetTimedOut(),
		Duration:         time.Duration(r.GetDurationNs()),
		CPUTime:          time.Duration(r.GetCpuTimeNs()),
		PeakMemoryBytes:  r.GetPeakMemoryBytes(),
		ContextRestarted: r.GetContextRestarted(),
	}
	if e := r.GetError(); e != nil {
		out.Error = &agentapi.ExecError{Name: e.GetName(), Value: e.GetValue(), Traceback: e.GetTraceback()}
	}
	if c := r.GetCompile(); c != nil {
		out.Compile = &agentapi.CompileResult{
			ExitCode:  int(c.GetExitCode()),
			Stdout:    c.GetStdout(),
			Stderr:    c.GetStderr(),
			Truncated: c.GetTruncated(),
			Duration:  time.Duration(c.GetDurationNs()),
		}
	}
	for _, d := range r.GetResults() {
		out.Results = append(out.Results, agentapi.DisplayData{Type: d.GetType(), Data: d.GetData()})
	}
	return out
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return m
}
