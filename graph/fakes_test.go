package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/graph"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// The keys fakeAuth knows.
const (
	goodKey   = "ci_test_good"
	brokenKey = "ci_test_broken" // the auth store fails on it
	teamA     = "team-a"
)

// fakeSandboxes is a sandboxes.API whose methods are function fields; a
// nil one fails the call.
type fakeSandboxes struct {
	create     func(ctx context.Context, teamID string, in sandboxes.CreateInput) (*structs.Sandbox, error)
	get        func(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	list       func(ctx context.Context, teamID string, q sandboxes.ListQuery) (sandboxes.Page, error)
	terminate  func(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	setTimeout func(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error)
	execute    func(ctx context.Context, teamID, sandboxID string, in sandboxes.ExecuteInput, onEvent func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error)
	events     func(ctx context.Context, teamID, sandboxID string) (<-chan structs.SandboxEvent, error)
	preview    func(ctx context.Context, teamID string, in sandboxes.CreateInput) (*structs.Placement, error)
}

func (f *fakeSandboxes) Preview(ctx context.Context, teamID string, in sandboxes.CreateInput) (*structs.Placement, error) {
	if f.preview == nil {
		return nil, errNotFaked
	}
	return f.preview(ctx, teamID, in)
}

var errNotFaked = errors.New("not faked")

func (f *fakeSandboxes) Create(ctx context.Context, teamID string, in sandboxes.CreateInput) (*structs.Sandbox, error) {
	if f.create == nil {
		return nil, errNotFaked
	}
	return f.create(ctx, teamID, in)
}

func (f *fakeSandboxes) Get(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	if f.get == nil {
		return nil, errNotFaked
	}
	return f.get(ctx, teamID, id)
}

func (f *fakeSandboxes) List(ctx context.Context, teamID string, q sandboxes.ListQuery) (sandboxes.Page, error) {
	if f.list == nil {
		return sandboxes.Page{}, errNotFaked
	}
	return f.list(ctx, teamID, q)
}

func (f *fakeSandboxes) Terminate(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	if f.terminate == nil {
		return nil, errNotFaked
	}
	return f.terminate(ctx, teamID, id)
}

func (f *fakeSandboxes) SetTimeout(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error) {
	if f.setTimeout == nil {
		return nil, errNotFaked
	}
	return f.setTimeout(ctx, teamID, id, seconds)
}

func (f *fakeSandboxes) Execute(ctx context.Context, teamID, sandboxID string, in sandboxes.ExecuteInput, onEvent func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
	if f.execute == nil {
		return nil, errNotFaked
	}
	return f.execute(ctx, teamID, sandboxID, in, onEvent)
}

func (f *fakeSandboxes) Events(ctx context.Context, teamID, sandboxID string) (<-chan structs.SandboxEvent, error) {
	if f.events == nil {
		return nil, errNotFaked
	}
	return f.events(ctx, teamID, sandboxID)
}

// fakeAuth knows goodKey as team A's admin key.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, secret string) (auth.Principal, error) {
	switch secret {
	case goodKey:
		return auth.Principal{TeamID: teamA, TeamName: "Team A", KeyID: "key-1", KeyName: "ci", KeyPrefix: "ci_test_", Admin: true}, nil
	case brokenKey:
		return auth.Principal{}, errors.New("key store: connection refused")
	}
	return auth.Principal{}, apperr.New(apperr.Unauthenticated, "unknown API key")
}

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	*httptest.Server
	logs   *syncBuffer
	client *codeint.Client
	http   *http.Client
}

// mustNewServer serves the API over real HTTP with api behind it.
func mustNewServer(t *testing.T, api sandboxes.API, opts ...func(*graph.Config)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg := graph.Config{
		Sandboxes: api,
		Auth:      fakeAuth{},
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(graph.NewHandler(cfg))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		srv.Close()
	})
	return &testServer{Server: srv, logs: logs, http: hc, client: codeint.New(srv.URL, goodKey, codeint.WithHTTPClient(hc))}
}

// clientWithKey is a client of s that sends key.
func (s *testServer) clientWithKey(key string) *codeint.Client {
	return codeint.New(s.URL, key, codeint.WithHTTPClient(s.http))
}

// gqlResponse is a decoded GraphQL response body.
type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// post sends a raw GraphQL POST and decodes the answer.
func (s *testServer) post(t *testing.T, authz, body string) (int, gqlResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, r
}

// streamingExecute is an Execute that starts, writes n chunks and
// finishes.
func streamingExecute(n int) func(context.Context, string, string, sandboxes.ExecuteInput, func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
	return func(_ context.Context, _, sandboxID string, in sandboxes.ExecuteInput, onEvent func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
		if onEvent != nil {
			onEvent(sandboxes.ExecEvent{Started: &sandboxes.ExecutionStarted{ExecutionID: "ex-1", SandboxID: sandboxID, StartedAt: time.Unix(1700000000, 5).UTC()}})
		}
		var out strings.Builder
		for i := 1; i <= n; i++ {
			data := fmt.Sprintf("line %d\n", i)
			out.WriteString(data)
			stream := agentapi.Stdout
			if i%2 == 0 {
				stream = agentapi.Stderr
			}
			if onEvent != nil {
				onEvent(sandboxes.ExecEvent{Output: &agentapi.OutputChunk{Stream: stream, Data: []byte(data), Seq: int64(i)}})
			}
		}
		return &sandboxes.ExecutionResult{ID: "ex-1", ExecResult: agentapi.ExecResult{
			Stdout:          out.String(),
			Duration:        1500 * time.Microsecond,
			CPUTime:         time.Millisecond,
			PeakMemoryBytes: 5 << 30, // beyond 32 bits on purpose
		}}, nil
	}
}

// endlessExecute starts, then writes a chunk every few milliseconds until
// ctx ends; it closes stopped when it returns.
func endlessExecute(stopped chan<- struct{}) func(context.Context, string, string, sandboxes.ExecuteInput, func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
	return func(ctx context.Context, _, sandboxID string, _ sandboxes.ExecuteInput, onEvent func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
		defer close(stopped)
		onEvent(sandboxes.ExecEvent{Started: &sandboxes.ExecutionStarted{ExecutionID: "ex-2", SandboxID: sandboxID, StartedAt: time.Now()}})
		for seq := int64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
			onEvent(sandboxes.ExecEvent{Output: &agentapi.OutputChunk{Stream: agentapi.Stdout, Data: []byte("tick\n"), Seq: seq}})
		}
	}
}

// leakCheck snapshots the goroutines now; calling the result fails the
// test if others are still running once they have had time to stop (the
// WebSocket close handshake may take a moment).
func leakCheck(t *testing.T) func() {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := goleak.Find(ignore)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines left behind: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitClosed waits for ch to close.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}
