package graph

import (
	"maps"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/graph/model"
)

// This file converts between the services' types and the schema's. It is
// the only place that knows both.

func toSandbox(s *structs.Sandbox) *model.Sandbox {
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.Env))
	for _, e := range s.Env {
		names = append(names, e.Name)
	}
	return &model.Sandbox{
		ID:             s.ID,
		State:          model.SandboxState(s.State),
		StopReason:     optString(s.StopReason),
		Error:          optString(s.Error),
		Template:       s.Template,
		Region:         s.Region,
		Runtime:        model.Runtime(s.Runtime),
		NodeID:         optString(s.NodeID),
		Vcpus:          s.VCPUs,
		MemoryMb:       s.MemoryMB,
		DiskMb:         s.DiskMB,
		TimeoutSeconds: s.TimeoutSeconds,
		CreatedAt:      s.CreatedAt,
		StartedAt:      optTime(s.StartedAt),
		StoppedAt:      optTime(s.StoppedAt),
		ExpiresAt:      optTime(s.ExpiresAt),
		Metadata:       s.Metadata,
		EnvNames:       names,
		Placement:      toPlacement(s.Placement),
	}
}

func toConnection(p sandboxes.Page) *model.SandboxConnection {
	edges := make([]*model.SandboxEdge, 0, len(p.Sandboxes))
	for _, s := range p.Sandboxes {
		edges = append(edges, &model.SandboxEdge{Cursor: sandboxes.Cursor(s.ID), Node: toSandbox(s)})
	}
	return &model.SandboxConnection{
		Edges:      edges,
		PageInfo:   &model.PageInfo{EndCursor: optString(p.EndCursor), HasNextPage: p.HasNextPage},
		TotalCount: p.TotalCount,
	}
}

func toListQuery(state *model.SandboxState, first *int, after *string) (sandboxes.ListQuery, error) {
	var q sandboxes.ListQuery
	if state != nil {
		s := structs.SandboxState(*state)
		q.State = &s
	}
	if first != nil {
		if *first < 0 {
			return q, apperr.New(apperr.InvalidArgument, "first must not be negative, got %d", *first)
		}
		q.First = *first
	}
	if after != nil {
		q.After = *after
	}
	return q, nil
}

func toExecuteInput(in model.ExecuteInput) sandboxes.ExecuteInput {
	return sandboxes.ExecuteInput{
		Language:       string(in.Language),
		Code:           in.Code,
		ContextID:      deref(in.ContextID),
		TimeoutSeconds: in.TimeoutSeconds,
		CPUTimeLimit:   in.CPUTimeLimitSeconds,
		Stdin:          deref(in.Stdin),
		Env:            toEnv(in.Env),
		Args:           in.Args,
		Cwd:            deref(in.Cwd),
	}
}

func toEnv(in []*model.EnvVarInput) []structs.EnvVar {
	if len(in) == 0 {
		return nil
	}
	out := make([]structs.EnvVar, 0, len(in))
	for _, e := range in {
		out = append(out, structs.EnvVar{Name: e.Name, Value: e.Value})
	}
	return out
}

func toExecutionResult(r *sandboxes.ExecutionResult) *model.ExecutionResult {
	if r == nil {
		return nil
	}
	out := &model.ExecutionResult{
		ID:               r.ID,
		Stdout:           r.Stdout,
		Stderr:           r.Stderr,
		ExitCode:         r.ExitCode,
		Results:          toDisplayData(r.Results),
		Truncated:        r.Truncated,
		ContextRestarted: r.ContextRestarted,
		Metrics: &model.ExecutionMetrics{
			DurationMs:      millis(r.Duration),
			CPUTimeMs:       millis(r.CPUTime),
			PeakMemoryBytes: r.PeakMemoryBytes,
		},
	}
	if c := r.Compile; c != nil {
		out.Compile = &model.CompileResult{ExitCode: c.ExitCode, Stdout: c.Stdout, Stderr: c.Stderr,
			Truncated: c.Truncated, DurationMs: millis(c.Duration)}
	}
	switch {
	case r.Error != nil:
		out.Error = &model.ExecutionError{Name: r.Error.Name, Value: r.Error.Value, Traceback: r.Error.Traceback}
	case r.TimedOut:
		out.Error = &model.ExecutionError{Name: "TIMEOUT", Value: "the execution ran out of time and was killed"}
	}
	return out
}

// toExecutionEvent converts one streamed event; nil when it carries nothing.
func toExecutionEvent(ev sandboxes.ExecEvent) model.ExecutionEvent {
	switch {
	case ev.Started != nil:
		return &model.ExecutionStarted{
			ExecutionID: ev.Started.ExecutionID,
			SandboxID:   ev.Started.SandboxID,
			StartedAt:   ev.Started.StartedAt,
		}
	case ev.Display != nil:
		return &model.DisplayData{Type: ev.Display.Type, Data: ev.Display.Data}
	case ev.Output != nil:
		return &model.OutputChunk{
			Stream: model.Stream(ev.Output.Stream),
			Data:   string(ev.Output.Data),
			Seq:    int(ev.Output.Seq),
		}
	}
	return nil
}

func toSandboxEvent(ev structs.SandboxEvent) *model.SandboxEvent {
	return &model.SandboxEvent{
		Type:    model.SandboxEventType(ev.Type),
		Sandbox: toSandbox(ev.Sandbox),
		At:      ev.At,
		Index:   int64(ev.Index),
	}
}

func toRegions(in []Region) []*model.Region {
	out := make([]*model.Region, 0, len(in))
	for _, r := range in {
		out = append(out, &model.Region{Name: r.Name, Leader: r.Leader, Authoritative: r.Authoritative, LatencyMs: r.LatencyMs,
			LatencySource: optString(r.LatencySource), Healthy: r.Healthy})
	}
	return out
}

// toTemplates drops languages the schema does not know rather than fail
// the whole list.
func toTemplates(in []Template) []*model.Template {
	out := make([]*model.Template, 0, len(in))
	for _, t := range in {
		langs := make([]model.Language, 0, len(t.Languages))
		for _, l := range t.Languages {
			if lang := model.Language(l); lang.IsValid() {
				langs = append(langs, lang)
			}
		}
		out = append(out, &model.Template{Name: t.Name, Description: t.Description, Languages: langs})
	}
	return out
}

// toLanguageInfos drops languages the schema does not know.
func toLanguageInfos(in []Toolchain) []*model.LanguageInfo {
	out := make([]*model.LanguageInfo, 0, len(in))
	for _, tc := range in {
		if lang := model.Language(tc.Language); lang.IsValid() {
			out = append(out, &model.LanguageInfo{Language: lang, Version: tc.Version, Compiled: tc.Compiled})
		}
	}
	return out
}

func toUsageReport(u UsageReport) *model.UsageReport {
	out := &model.UsageReport{From: u.From, To: u.To, SandboxSeconds: u.SandboxSeconds, Sandboxes: u.Sandboxes,
		VcpuSeconds: u.VCPUSeconds, GibSeconds: u.GiBSeconds, CostMicros: u.CostMicros, Groups: []*model.UsageGroup{}}
	for _, g := range u.Groups {
		out.Groups = append(out.Groups, &model.UsageGroup{Key: g.Key, SandboxSeconds: g.SandboxSeconds, VcpuSeconds: g.VCPUSeconds,
			GibSeconds: g.GiBSeconds, CPUSeconds: g.CPUSeconds, CostMicros: g.CostMicros, Records: g.Records})
	}
	return out
}

// checkPeriod requires a non-empty period [from, to).
func checkPeriod(from, to time.Time) error {
	if !to.After(from) {
		return apperr.New(apperr.InvalidArgument, "to (%s) must be after from (%s)", to.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano))
	}
	return nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func toAPIKey(k *structs.APIKey) *model.APIKey {
	return &model.APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Admin: k.Admin, Revoked: !k.RevokedAt.IsZero()}
}

func toNodeEvent(ev structs.NodeEvent) *model.NodeEvent {
	out := &model.NodeEvent{Type: model.NodeEventType(ev.Type), At: ev.At, Index: int64(ev.Index), Lost: ev.Lost,
		Node: &model.Node{Labels: []*model.Label{}}}
	if out.Lost == nil {
		out.Lost = []string{}
	}
	if n := ev.Node; n != nil {
		out.Node = &model.Node{ID: n.ID, Region: n.Region, Zone: n.Zone, Status: model.NodeStatus(n.Status), Vcpus: n.VCPUs,
			MemoryMb: n.MemoryMB, Templates: n.Templates, Draining: n.Draining, DrainReason: optString(n.DrainReason)}
		for _, rt := range n.Runtimes {
			out.Node.Runtimes = append(out.Node.Runtimes, model.Runtime(rt))
		}
		out.Node.Labels = toLabels(n.Labels)
	}
	return out
}

// toLabels lists a node's labels by key.
func toLabels(m map[string]string) []*model.Label {
	out := make([]*model.Label, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, &model.Label{Key: k, Value: m[k]})
	}
	return out
}

func toSandboxUsage(u *SandboxUsage) *model.SandboxUsage {
	if u == nil {
		return nil
	}
	return &model.SandboxUsage{SandboxSeconds: u.SandboxSeconds, VcpuSeconds: u.VCPUSeconds, GibSeconds: u.GiBSeconds,
		CPUSeconds: u.CPUSeconds, PeakMemoryBytes: u.PeakMemoryBytes, CostMicros: u.CostMicros, Final: u.Final}
}
