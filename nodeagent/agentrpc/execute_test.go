package agentrpc

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

func TestExecuteStreamsChunksInOrderThenResult(t *testing.T) {
	const n = 1000
	var want []agentapi.OutputChunk
	for i := range int64(n) {
		c := agentapi.OutputChunk{Stream: agentapi.Stdout, Data: []byte{byte(i), byte(i >> 8)}, Seq: i + 1}
		switch i % 3 {
		case 1:
			c.Stream = agentapi.Stderr
		case 2:
			c = fullChunk(i + 1)
		}
		want = append(want, c)
	}
	var gotReq agentapi.ExecRequest
	var gotID string
	c := mustServe(t, &fakeAgent{execute: func(_ context.Context, id string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		gotID, gotReq = id, req
		for _, c := range want {
			onOutput(c)
		}
		return fullExecResult(), nil
	}})

	var got []agentapi.OutputChunk
	res, err := c.Execute(t.Context(), "sb-1", fullExecRequest(), func(c agentapi.OutputChunk) { got = append(got, c) })
	if err != nil {
		t.Fatal(err)
	}
	if gotID != "sb-1" || !reflect.DeepEqual(gotReq, fullExecRequest()) {
		t.Errorf("the agent got %q %+v, want sb-1 %+v", gotID, gotReq, fullExecRequest())
	}
	if len(got) != n {
		t.Fatalf("got %d chunks, want %d", len(got), n)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("chunk %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if !reflect.DeepEqual(res, fullExecResult()) {
		t.Errorf("result = %+v, want %+v", res, fullExecResult())
	}
}

func TestExecuteWithoutOnOutput(t *testing.T) {
	c := mustServe(t, &fakeAgent{execute: func(_ context.Context, _ string, _ agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		onOutput(fullChunk(1))
		return agentapi.ExecResult{Stdout: "done"}, nil
	}})
	res, err := c.Execute(t.Context(), "sb-1", agentapi.ExecRequest{}, nil)
	if err != nil || res.Stdout != "done" {
		t.Fatalf("Execute = %+v, %v", res, err)
	}
}

func TestExecuteCancelReachesTheAgent(t *testing.T) {
	agentCtxDone := make(chan error, 1)
	c := mustServe(t, &fakeAgent{execute: func(ctx context.Context, _ string, _ agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		onOutput(agentapi.OutputChunk{Stream: agentapi.Stdout, Data: []byte("started"), Seq: 1})
		select {
		case <-ctx.Done():
			agentCtxDone <- ctx.Err()
			return agentapi.ExecResult{}, ctx.Err()
		case <-time.After(30 * time.Second):
			agentCtxDone <- errors.New("the agent's context was not cancelled")
			return agentapi.ExecResult{}, nil
		}
	}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := c.Execute(ctx, "sb-1", agentapi.ExecRequest{}, func(agentapi.OutputChunk) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Execute = %v, want context.Canceled", err)
	}
	if err := <-agentCtxDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the agent's context ended with %v, want context.Canceled", err)
	}
}

func TestExecuteDeadline(t *testing.T) {
	c := mustServe(t, &fakeAgent{execute: func(ctx context.Context, _ string, _ agentapi.ExecRequest, _ func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		<-ctx.Done()
		return agentapi.ExecResult{}, ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Execute(ctx, "sb-1", agentapi.ExecRequest{}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Execute = %v, want context.DeadlineExceeded", err)
	}
}

func TestExecuteErrorKeepsSentinel(t *testing.T) {
	c := mustServe(t, &fakeAgent{execute: func(_ context.Context, _ string, _ agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		onOutput(fullChunk(1))
		return agentapi.ExecResult{}, errors.Join(errors.New("agent: exec"), agentapi.ErrNoCapacity)
	}})
	var chunks int
	_, err := c.Execute(t.Context(), "sb-1", agentapi.ExecRequest{}, func(agentapi.OutputChunk) { chunks++ })
	if !errors.Is(err, agentapi.ErrNoCapacity) {
		t.Errorf("Execute = %v, want agentapi.ErrNoCapacity", err)
	}
	if chunks != 1 {
		t.Errorf("onOutput called %d times before the error, want 1", chunks)
	}
}

func TestExecuteLargeResult(t *testing.T) {
	want := agentapi.ExecResult{Stdout: strings.Repeat("o", 5<<20), Stderr: strings.Repeat("e", 3<<20)}
	c := mustServe(t, &fakeAgent{execute: func(context.Context, string, agentapi.ExecRequest, func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		return want, nil
	}})
	res, err := c.Execute(t.Context(), "sb-1", agentapi.ExecRequest{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != want.Stdout || res.Stderr != want.Stderr {
		t.Errorf("got %d bytes of stdout and %d of stderr, want %d and %d", len(res.Stdout), len(res.Stderr), len(want.Stdout), len(want.Stderr))
	}
}
