package codeint

import (
	"context"
	"time"
)

// Context is a code-interpreter context: an interpreter in a sandbox that
// keeps variables, imports and its working directory between executions
// that name it in ExecuteInput.ContextID.
type Context struct {
	ID        string    `json:"id"`
	SandboxID string    `json:"sandboxId"`
	Language  string    `json:"language"`
	Cwd       string    `json:"cwd"`
	CreatedAt time.Time `json:"createdAt"`
	Busy      bool      `json:"busy"`
}

const contextFields = `id sandboxId language cwd createdAt busy`

// CreateContext starts a context (Python or JavaScript) in a sandbox; cwd
// "" is the user's home.
func (c *Client) CreateContext(ctx context.Context, sandboxID, language, cwd string) (*Context, error) {
	var data struct {
		Context Context `json:"createContext"`
	}
	vars := map[string]any{"id": sandboxID, "lang": language}
	if cwd != "" {
		vars["cwd"] = cwd
	}
	q := `mutation ($id: ID!, $lang: Language!, $cwd: String) { createContext(sandboxId: $id, language: $lang, cwd: $cwd) { ` + contextFields + ` } }`
	if err := c.Do(ctx, q, vars, &data); err != nil {
		return nil, err
	}
	return &data.Context, nil
}

// Contexts lists a sandbox's contexts.
func (c *Client) Contexts(ctx context.Context, sandboxID string) ([]Context, error) {
	var data struct {
		Contexts []Context `json:"contexts"`
	}
	err := c.Do(ctx, `query ($id: ID!) { contexts(sandboxId: $id) { `+contextFields+` } }`, map[string]any{"id": sandboxID}, &data)
	return data.Contexts, err
}

// RestartContext starts a context's interpreter afresh (its state is gone).
func (c *Client) RestartContext(ctx context.Context, sandboxID, contextID string) (*Context, error) {
	return c.contextOp(ctx, "restartContext", sandboxID, contextID)
}

// InterruptContext interrupts the cell running in a context; the cell
// ends with error KeyboardInterrupt and the context keeps its state.
func (c *Client) InterruptContext(ctx context.Context, sandboxID, contextID string) (*Context, error) {
	return c.contextOp(ctx, "interruptContext", sandboxID, contextID)
}

// RemoveContext stops a context's interpreter.
func (c *Client) RemoveContext(ctx context.Context, sandboxID, contextID string) error {
	return c.Do(ctx, `mutation ($id: ID!, $ctx: ID!) { removeContext(sandboxId: $id, contextId: $ctx) }`,
		map[string]any{"id": sandboxID, "ctx": contextID}, nil)
}

func (c *Client) contextOp(ctx context.Context, op, sandboxID, contextID string) (*Context, error) {
	var data map[string]Context
	q := `mutation ($id: ID!, $ctx: ID!) { ` + op + `(sandboxId: $id, contextId: $ctx) { ` + contextFields + ` } }`
	if err := c.Do(ctx, q, map[string]any{"id": sandboxID, "ctx": contextID}, &data); err != nil {
		return nil, err
	}
	out := data[op]
	return &out, nil
}
