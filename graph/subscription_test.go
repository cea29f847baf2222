package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/sdk/go/codeint"
)

const executionDoc = `subscription ($id: ID!, $in: ExecuteInput!) {
  execution(sandboxId: $id, input: $in) {
    __typename
    ... on ExecutionStarted { executionId sandboxId startedAt }
    ... on OutputChunk { stream data seq }
    ... on ExecutionResult { id stdout exitCode results { type } metrics { peakMemoryBytes durationMs } }
  }
}`

var executionVars = map[string]any{"id": "sb-1", "in": map[string]any{"language": "PYTHON", "code": "print(1)"}}

// The events streamingExecute(3) yields, as the server sends them.
var wantExecutionEvents = []string{
	`{"execution":{"__typename":"ExecutionStarted","executionId":"ex-1","sandboxId":"sb-1","startedAt":"2023-11-14T22:13:20.000000005Z"}}`,
	`{"execution":{"__typename":"OutputChunk","stream":"STDOUT","data":"line 1\n","seq":1}}`,
	`{"execution":{"__typename":"OutputChunk","stream":"STDERR","data":"line 2\n","seq":2}}`,
	`{"execution":{"__typename":"OutputChunk","stream":"STDOUT","data":"line 3\n","seq":3}}`,
	`{"execution":{"__typename":"ExecutionResult","id":"ex-1","stdout":"line 1\nline 2\nline 3\n","exitCode":0,"results":[],"metrics":{"peakMemoryBytes":5368709120,"durationMs":1.5}}}`,
}

type subscribeFunc func(*codeint.Client, context.Context, string, map[string]any) (*codeint.Subscription, error)

var transports = []struct {
	name      string
	subscribe subscribeFunc
}{
	{"websocket", (*codeint.Client).Subscribe},
	{"sse", (*codeint.Client).SubscribeSSE},
}

// readAll reads a subscription to its end.
func readAll(t *testing.T, sub *codeint.Subscription) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for {
		raw, err := sub.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, string(raw))
	}
}

func TestExecutionSubscription(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks := leakCheck(t)
			s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(3)})
			sub, err := tr.subscribe(s.client, context.Background(), executionDoc, executionVars)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, sub)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream ended with %v, want io.EOF (complete)", err)
			}
			if strings.Join(got, "\n") != strings.Join(wantExecutionEvents, "\n") {
				t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantExecutionEvents, "\n"))
			}
			sub.Close()
			s.Close()
			checkLeaks()
		})
	}
}

func TestStreamExecute(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(4)})
	var chunks []codeint.OutputChunk
	res, err := s.client.StreamExecute(context.Background(), "sb-1", codeint.ExecuteInput{Language: codeint.Bash, Code: "seq 4"},
		func(c codeint.OutputChunk) { chunks = append(chunks, c) })
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 4 || chunks[0].Seq != 1 || chunks[1].Stream != codeint.Stderr || chunks[3].Data != "line 4\n" {
		t.Fatalf("chunks = %+v", chunks)
	}
	if res.ID != "ex-1" || res.Metrics.PeakMemoryBytes != 5<<30 {
		t.Fatalf("result = %+v", res)
	}
}

func TestExecutionStartErrors(t *testing.T) {
	api := &fakeSandboxes{execute: func(_ context.Context, _, id string, _ sandboxes.ExecuteInput, _ func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
		return nil, apperr.New(apperr.NotFound, "sandbox %s not found", id)
	}}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks := leakCheck(t)
			s := mustNewServer(t, api)
			sub, err := tr.subscribe(s.client, context.Background(), executionDoc, executionVars)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, sub)
			if len(got) != 0 || codeint.CodeOf(err) != codeint.CodeNotFound || !strings.Contains(err.Error(), "sandbox sb-1 not found") {
				t.Fatalf("got %v, %v; want a NOT_FOUND error first", got, err)
			}
			if _, err := sub.Next(context.Background()); !errors.Is(err, io.EOF) {
				t.Fatalf("after the error: %v, want io.EOF", err)
			}
			sub.Close()
			s.Close()
			checkLeaks()
		})
	}
}

func TestExecutionValidationErrorOnSubscribe(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(1)})
	vars := map[string]any{"id": "sb-1", "in": map[string]any{"language": "COBOL", "code": "x"}}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			sub, err := tr.subscribe(s.client, context.Background(), executionDoc, vars)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if _, err := readAll(t, sub); codeint.CodeOf(err) != codeint.CodeInvalidArgument {
				t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

func TestExecutionFailsMidStream(t *testing.T) {
	api := &fakeSandboxes{execute: func(_ context.Context, _, id string, _ sandboxes.ExecuteInput, onEvent func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
		onEvent(sandboxes.ExecEvent{Started: &sandboxes.ExecutionStarted{ExecutionID: "ex-3", SandboxID: id, StartedAt: time.Now()}})
		onEvent(sandboxes.ExecEvent{Output: &agentapi.OutputChunk{Stream: agentapi.Stdout, Data: []byte("partial"), Seq: 1}})
		return nil, apperr.New(apperr.Unavailable, "node n-1 stopped answering")
	}}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			s := mustNewServer(t, api)
			sub, err := tr.subscribe(s.client, context.Background(), executionDoc, executionVars)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			got, err := readAll(t, sub)
			if len(got) != 2 || codeint.CodeOf(err) != codeint.CodeUnavailable || !strings.Contains(err.Error(), "n-1 stopped answering") {
				t.Fatalf("got %v, %v; want started, one chunk, then UNAVAILABLE", got, err)
			}
		})
	}
}

func TestClientLeavesMidStream(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks := leakCheck(t)
			stopped := make(chan struct{})
			s := mustNewServer(t, &fakeSandboxes{execute: endlessExecute(stopped)})
			sub, err := tr.subscribe(s.client, context.Background(), executionDoc, executionVars)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := sub.Next(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			sub.Close()
			waitClosed(t, stopped, "the execution ending after the client left")
			if _, err := sub.Next(context.Background()); !errors.Is(err, codeint.ErrClosed) {
				t.Fatalf("Next after Close = %v, want ErrClosed", err)
			}
			s.Close()
			checkLeaks()
		})
	}
}

func TestSubscriptionEndsWithItsContext(t *testing.T) {
	checkLeaks := leakCheck(t)
	stopped := make(chan struct{})
	s := mustNewServer(t, &fakeSandboxes{execute: endlessExecute(stopped)})
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.client.Subscribe(ctx, executionDoc, executionVars)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, stopped, "the execution ending with the client's context")
	if _, err := sub.Next(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
	sub.Close()
	s.Close()
	checkLeaks()
}

func TestWebSocketRejectsBadKeys(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(1)})
	for _, key := range []string{"ci_test_wrong", ""} {
		_, err := s.clientWithKey(key).Subscribe(context.Background(), executionDoc, executionVars)
		var e *codeint.Error
		if !errors.As(err, &e) || e.CloseCode != 4403 || e.Code != codeint.CodeUnauthenticated {
			t.Fatalf("key %q: err = %#v, want close 4403 UNAUTHENTICATED", key, err)
		}
	}
}

func TestSSERejectsBadKeys(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(1)})
	_, err := s.clientWithKey("ci_test_wrong").SubscribeSSE(context.Background(), executionDoc, executionVars)
	var e *codeint.Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != codeint.CodeUnauthenticated {
		t.Fatalf("err = %#v, want 401 UNAUTHENTICATED", err)
	}
}

func TestSandboxEventsSubscription(t *testing.T) {
	checkLeaks := leakCheck(t)
	var gotTeam, gotID string
	api := &fakeSandboxes{events: func(ctx context.Context, teamID, sandboxID string) (<-chan structs.SandboxEvent, error) {
		gotTeam, gotID = teamID, sandboxID
		ch := make(chan structs.SandboxEvent)
		go func() {
			defer close(ch)
			for i, st := range []structs.SandboxState{structs.SandboxCreating, structs.SandboxRunning} {
				ev := structs.SandboxEvent{Index: uint64(10 + i), Type: structs.SandboxEventStateChanged, At: time.Now(),
					Sandbox: &structs.Sandbox{ID: sandboxID, State: st, CreatedAt: time.Now()}}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
			<-ctx.Done()
		}()
		return ch, nil
	}}
	s := mustNewServer(t, api)
	ctx, cancel := context.WithCancel(context.Background())
	var got []codeint.SandboxEvent
	err := s.client.SandboxEvents(ctx, "sb-7", func(ev codeint.SandboxEvent) error {
		got = append(got, ev)
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if gotTeam != teamA || gotID != "sb-7" {
		t.Fatalf("service asked for team %q sandbox %q", gotTeam, gotID)
	}
	if len(got) != 2 || got[0].Index != 10 || got[1].Sandbox.State != codeint.StateRunning || got[1].Type != "STATE_CHANGED" {
		t.Fatalf("events = %+v", got)
	}
	s.Close()
	checkLeaks()
}

// TestRawGraphQLTransportWS speaks the protocol by hand, as the graphql-ws
// JavaScript library does.
func TestRawGraphQLTransportWS(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(3)})
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}

	t.Run("subscribe", func(t *testing.T) {
		conn, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if conn.Subprotocol() != "graphql-transport-ws" {
			t.Fatalf("subprotocol = %q", conn.Subprotocol())
		}
		mustWrite(t, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + goodKey}})
		if m := mustRead(t, conn); m.Type != "connection_ack" {
			t.Fatalf("got %+v, want connection_ack", m)
		}
		mustWrite(t, conn, map[string]any{"type": "ping"})
		if m := mustRead(t, conn); m.Type != "pong" {
			t.Fatalf("got %+v, want pong", m)
		}
		mustWrite(t, conn, map[string]any{"id": "op1", "type": "subscribe", "payload": map[string]any{"query": executionDoc, "variables": executionVars}})
		for _, want := range wantExecutionEvents {
			m := mustRead(t, conn)
			if m.Type != "next" || m.ID != "op1" || string(m.Payload) != `{"data":`+want+`}` {
				t.Fatalf("got %s %s %s, want next %s", m.Type, m.ID, m.Payload, want)
			}
		}
		if m := mustRead(t, conn); m.Type != "complete" || m.ID != "op1" {
			t.Fatalf("got %+v, want complete", m)
		}
	})

	for name, init := range map[string]map[string]any{
		"wrong key": {"type": "connection_init", "payload": map[string]any{"authorization": "Bearer ci_test_wrong"}},
		"no key":    {"type": "connection_init"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, _, err := d.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			mustWrite(t, conn, init)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err = conn.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4403 {
				t.Fatalf("read = %v, want close 4403", err)
			}
		})
	}
}

type rawMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func mustWrite(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	if err := c.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, c *websocket.Conn) rawMessage {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m rawMessage
	if err := c.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAbruptDisconnect drops the TCP connection mid-stream without a close
// frame: the execution must still end and nothing may be left running.
func TestAbruptDisconnect(t *testing.T) {
	checkLeaks := leakCheck(t)
	stopped := make(chan struct{})
	s := mustNewServer(t, &fakeSandboxes{execute: endlessExecute(stopped)})
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + goodKey}})
	mustRead(t, conn) // connection_ack
	mustWrite(t, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": executionDoc, "variables": executionVars}})
	for range 3 {
		if m := mustRead(t, conn); m.Type != "next" {
			t.Fatalf("got %+v, want next", m)
		}
	}
	_ = conn.NetConn().Close()
	waitClosed(t, stopped, "the execution ending after the connection dropped")
	s.Close()
	checkLeaks()
}

// TestLegacyGraphQLWS checks the older subscriptions-transport-ws protocol
// (subprotocol "graphql-ws") that gqlgen also speaks.
func TestLegacyGraphQLWS(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(1)})
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	d := websocket.Dialer{Subprotocols: []string{"graphql-ws"}}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustWrite(t, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + goodKey}})
	if m := mustRead(t, conn); m.Type != "connection_ack" {
		t.Fatalf("got %+v, want connection_ack", m)
	}
	mustWrite(t, conn, map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": executionDoc, "variables": executionVars}})
	var types []string
	for {
		m := mustRead(t, conn)
		if m.Type == "ka" {
			continue
		}
		types = append(types, m.Type)
		if m.Type == "complete" {
			break
		}
	}
	if strings.Join(types, ",") != "data,data,data,complete" {
		t.Fatalf("messages = %v", types)
	}
}
