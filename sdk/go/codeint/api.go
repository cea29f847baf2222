package codeint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The documents the typed helpers send.
const (
	sandboxFields = `fragment SandboxFields on Sandbox {
  id state stopReason error template region runtime nodeId vcpus memoryMB diskMB
  timeoutSeconds createdAt startedAt stoppedAt expiresAt metadata envNames
  placement { ...PlacementFields }
  usage { sandboxSeconds vcpuSeconds gibSeconds cpuSeconds peakMemoryBytes costMicros final }
}
` + placementFields
	resultFields = `fragment ResultFields on ExecutionResult {
  id stdout stderr exitCode truncated
  results { type data }
  error { name value traceback }
  metrics { durationMs cpuTimeMs peakMemoryBytes }
  compile { exitCode stdout stderr truncated durationMs }
  contextRestarted
}`
	listPageSize = 100
)

// Languages lists what a template runs, with the toolchains' versions.
func (c *Client) Languages(ctx context.Context, template string) ([]LanguageInfo, error) {
	var data struct {
		Languages []LanguageInfo `json:"languages"`
	}
	err := c.Do(ctx, `query($t: String!) { languages(template: $t) { language version compiled } }`,
		map[string]any{"t": template}, &data)
	return data.Languages, err
}

// Viewer returns the calling team and key.
func (c *Client) Viewer(ctx context.Context) (*Viewer, error) {
	var data struct {
		Viewer Viewer `json:"viewer"`
	}
	err := c.Do(ctx, `query { viewer { team { id name } key { id name prefix admin } } }`, nil, &data)
	if err != nil {
		return nil, err
	}
	return &data.Viewer, nil
}

// CreateSandbox creates a sandbox.
func (c *Client) CreateSandbox(ctx context.Context, in CreateSandboxInput) (*Sandbox, error) {
	var data struct {
		Sandbox Sandbox `json:"createSandbox"`
	}
	q := `mutation ($input: CreateSandboxInput!) { createSandbox(input: $input) { ...SandboxFields } } ` + sandboxFields
	if err := c.Do(ctx, q, map[string]any{"input": in}, &data); err != nil {
		return nil, err
	}
	return &data.Sandbox, nil
}

// Sandbox returns one sandbox; a missing one is a NOT_FOUND error.
func (c *Client) Sandbox(ctx context.Context, id string) (*Sandbox, error) {
	return c.SandboxAt(ctx, id, "")
}

// SandboxAt returns one sandbox read at a consistency level: "STALE",
// "DEFAULT" or "LINEARIZABLE" ("" = the server's default).
func (c *Client) SandboxAt(ctx context.Context, id, consistency string) (*Sandbox, error) {
	var data struct {
		Sandbox *Sandbox `json:"sandbox"`
	}
	vars := map[string]any{"id": id}
	if consistency != "" {
		vars["consistency"] = consistency
	}
	q := `query ($id: ID!, $consistency: Consistency) { sandbox(id: $id, consistency: $consistency) { ...SandboxFields } } ` + sandboxFields
	if err := c.Do(ctx, q, vars, &data); err != nil {
		return nil, err
	}
	if data.Sandbox == nil {
		return nil, Errors{{Message: fmt.Sprintf("sandbox %s not found", id), Code: CodeNotFound}}
	}
	return data.Sandbox, nil
}

// ListSandboxes returns the team's sandboxes, newest first, in the given
// state ("" for all), following every page.
func (c *Client) ListSandboxes(ctx context.Context, state string) ([]*Sandbox, error) {
	q := `query ($state: SandboxState, $first: Int, $after: String) {
  sandboxes(state: $state, first: $first, after: $after) {
    edges { node { ...SandboxFields } }
    pageInfo { endCursor hasNextPage }
  }
} ` + sandboxFields
	vars := map[string]any{"first": listPageSize}
	if state != "" {
		vars["state"] = state
	}
	var out []*Sandbox
	for {
		var data struct {
			Sandboxes struct {
				Edges []struct {
					Node *Sandbox `json:"node"`
				} `json:"edges"`
				PageInfo struct {
					EndCursor   *string `json:"endCursor"`
					HasNextPage bool    `json:"hasNextPage"`
				} `json:"pageInfo"`
			} `json:"sandboxes"`
		}
		if err := c.Do(ctx, q, vars, &data); err != nil {
			return nil, err
		}
		for _, e := range data.Sandboxes.Edges {
			out = append(out, e.Node)
		}
		pi := data.Sandboxes.PageInfo
		if !pi.HasNextPage || pi.EndCursor == nil || *pi.EndCursor == "" {
			return out, nil
		}
		vars["after"] = *pi.EndCursor
	}
}

// TerminateSandbox stops a sandbox and returns it.
func (c *Client) TerminateSandbox(ctx context.Context, id string) (*Sandbox, error) {
	var data struct {
		Sandbox Sandbox `json:"terminateSandbox"`
	}
	q := `mutation ($id: ID!) { terminateSandbox(id: $id) { ...SandboxFields } } ` + sandboxFields
	if err := c.Do(ctx, q, map[string]any{"id": id}, &data); err != nil {
		return nil, err
	}
	return &data.Sandbox, nil
}

// SetSandboxTimeout sets how long a sandbox may live, counted from now.
func (c *Client) SetSandboxTimeout(ctx context.Context, id string, seconds int) (*Sandbox, error) {
	var data struct {
		Sandbox Sandbox `json:"setSandboxTimeout"`
	}
	q := `mutation ($id: ID!, $s: Int!) { setSandboxTimeout(id: $id, timeoutSeconds: $s) { ...SandboxFields } } ` + sandboxFields
	if err := c.Do(ctx, q, map[string]any{"id": id, "s": seconds}, &data); err != nil {
		return nil, err
	}
	return &data.Sandbox, nil
}

// Execute runs code and returns once it has finished.
func (c *Client) Execute(ctx context.Context, sandboxID string, in ExecuteInput) (*ExecutionResult, error) {
	var data struct {
		Result ExecutionResult `json:"execute"`
	}
	q := `mutation ($id: ID!, $input: ExecuteInput!) { execute(sandboxId: $id, input: $input) { ...ResultFields } } ` + resultFields
	if err := c.Do(ctx, q, map[string]any{"id": sandboxID, "input": in}, &data); err != nil {
		return nil, err
	}
	return &data.Result, nil
}

// executionSubscription is the document StreamExecute subscribes with.
const executionSubscription = `subscription ($id: ID!, $input: ExecuteInput!) {
  execution(sandboxId: $id, input: $input) {
    __typename
    ... on ExecutionStarted { executionId sandboxId startedAt }
    ... on OutputChunk { stream data seq }
    ... on DisplayData { type data }
    ... on ExecutionResult { ...ResultFields }
  }
} ` + resultFields

// StreamExecute runs code over a WebSocket subscription, calling onChunk
// (when not nil) for every output chunk as it arrives, and returns the
// result.
func (c *Client) StreamExecute(ctx context.Context, sandboxID string, in ExecuteInput, onChunk func(OutputChunk)) (*ExecutionResult, error) {
	return c.StreamExecuteWith(ctx, sandboxID, in, StreamHandlers{OnOutput: onChunk})
}

// StreamHandlers receive the events of a streamed execution as they
// arrive; nil ones are skipped.
type StreamHandlers struct {
	OnOutput  func(OutputChunk)
	OnDisplay func(DisplayData) // rich results of an execution in a context
}

// StreamExecuteWith is StreamExecute with a handler for every kind of
// event.
func (c *Client) StreamExecuteWith(ctx context.Context, sandboxID string, in ExecuteInput, h StreamHandlers) (*ExecutionResult, error) {
	vars := map[string]any{"id": sandboxID, "input": in}
	return untilLast(ctx, c, executionSubscription, "execution", vars, "execution", "a result", func(raw json.RawMessage) (*ExecutionResult, error) {
		ev, err := decodeExecutionEvent(raw)
		if err != nil {
			return nil, err
		}
		switch ev := ev.(type) {
		case *OutputChunk:
			if h.OnOutput != nil {
				h.OnOutput(*ev)
			}
		case *DisplayData:
			if h.OnDisplay != nil {
				h.OnDisplay(*ev)
			}
		case *ExecutionResult:
			return ev, nil
		}
		return nil, nil
	})
}

// decodeExecutionEvent decodes one ExecutionEvent by its __typename into
// *ExecutionStarted, *OutputChunk, *DisplayData or *ExecutionResult.
func decodeExecutionEvent(raw json.RawMessage) (any, error) {
	var head struct {
		Typename string `json:"__typename"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("codeint: decode execution event: %w", err)
	}
	var v any
	switch head.Typename {
	case "ExecutionStarted":
		v = &ExecutionStarted{}
	case "OutputChunk":
		v = &OutputChunk{}
	case "DisplayData":
		v = &DisplayData{}
	case "ExecutionResult":
		v = &ExecutionResult{}
	default:
		return nil, fmt.Errorf("codeint: unknown execution event %q", head.Typename)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("codeint: decode %s: %w", head.Typename, err)
	}
	return v, nil
}

// SandboxEvents calls fn for every change to the team's sandboxes (of one
// sandbox when sandboxID is not empty) until ctx ends, fn returns an
// error, or the server ends the stream; it returns that error (nil when
// ctx ended it).
func (c *Client) SandboxEvents(ctx context.Context, sandboxID string, fn func(SandboxEvent) error) error {
	q := `subscription ($id: ID) { sandboxEvents(sandboxId: $id) { type at index sandbox { ...SandboxFields } } } ` + sandboxFields
	vars := map[string]any{}
	if sandboxID != "" {
		vars["id"] = sandboxID
	}
	return each(ctx, c, q, "sandboxEvents", vars, fn)
}

// untilLast subscribes with q and hands every event's field to step until
// step returns the stream's last event (non-nil). A stream that ends
// before it is UNAVAILABLE ("the <kind> stream ended without <last>").
func untilLast[R any](ctx context.Context, c *Client, q, field string, vars map[string]any, kind, last string,
	step func(json.RawMessage) (*R, error)) (*R, error) {
	sub, err := c.Subscribe(ctx, q, vars)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	for {
		raw, err := sub.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil, &Error{Message: fmt.Sprintf("the %s stream ended without %s", kind, last), Code: CodeUnavailable}
		}
		if err != nil {
			return nil, err
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(raw, &data); err != nil {
			return nil, fmt.Errorf("codeint: decode %s event: %w", kind, err)
		}
		r, err := step(data[field])
		if err != nil || r != nil {
			return r, err
		}
	}
}

// each subscribes with q and calls fn with every event's field, decoded
// into a T, until ctx ends (nil), fn returns an error, or the server ends
// the stream (that error).
func each[T any](ctx context.Context, c *Client, q, field string, vars map[string]any, fn func(T) error) error {
	sub, err := c.Subscribe(ctx, q, vars)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		raw, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var data map[string]T
		if err := json.Unmarshal(raw, &data); err != nil {
			return fmt.Errorf("codeint: decode %s event: %w", field, err)
		}
		if err := fn(data[field]); err != nil {
			return err
		}
	}
}
