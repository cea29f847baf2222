package agentrpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

func TestStartSandbox(t *testing.T) {
	want := fullStartRequest()
	var got agentapi.StartRequest
	c := mustServe(t, &fakeAgent{start: func(_ context.Context, req agentapi.StartRequest) (agentapi.StartResult, error) {
		got = req
		return fullStartResult(), nil
	}})
	res, err := c.StartSandbox(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the agent got %+v, want %+v", got, want)
	}
	if res != fullStartResult() {
		t.Errorf("StartSandbox = %+v, want %+v", res, fullStartResult())
	}
	if c.NodeID() != "node-1" {
		t.Errorf("NodeID = %q, want node-1", c.NodeID())
	}
}

func TestClaimWarm(t *testing.T) {
	tests := []struct {
		name        string
		agent       agentapi.Agent
		wantClaimed bool
		wantErr     error
	}{
		{"no pool", &fakeAgent{}, false, nil},
		{"claimed", &fakeWarmAgent{fakeAgent: &fakeAgent{}, claim: func(_ context.Context, req agentapi.StartRequest) (agentapi.StartResult, bool, error) {
			if !reflect.DeepEqual(req, fullStartRequest()) {
				return agentapi.StartResult{}, false, fmt.Errorf("claim got %+v", req)
			}
			return fullStartResult(), true, nil
		}}, true, nil},
		{"none ready", &fakeWarmAgent{fakeAgent: &fakeAgent{}, claim: func(context.Context, agentapi.StartRequest) (agentapi.StartResult, bool, error) {
			return agentapi.StartResult{NodeID: "ignored"}, false, nil
		}}, false, nil},
		{"error", &fakeWarmAgent{fakeAgent: &fakeAgent{}, claim: func(context.Context, agentapi.StartRequest) (agentapi.StartResult, bool, error) {
			return agentapi.StartResult{}, false, fmt.Errorf("pool: %w", agentapi.ErrNoCapacity)
		}}, false, agentapi.ErrNoCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustServe(t, tt.agent)
			res, claimed, err := c.ClaimWarm(t.Context(), fullStartRequest())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ClaimWarm error = %v, want %v", err, tt.wantErr)
			}
			if claimed != tt.wantClaimed {
				t.Fatalf("claimed = %v, want %v", claimed, tt.wantClaimed)
			}
			want := agentapi.StartResult{}
			if claimed {
				want = fullStartResult()
			}
			if res != want {
				t.Errorf("result = %+v, want %+v", res, want)
			}
		})
	}
}

func TestStopSandbox(t *testing.T) {
	var stopped []string
	c := mustServe(t, &fakeAgent{stop: func(_ context.Context, id string) error {
		stopped = append(stopped, id)
		if id == "bad" {
			return errors.New("agent: stop bad: device busy")
		}
		return nil
	}})
	if err := c.StopSandbox(t.Context(), "sb-1"); err != nil {
		t.Fatal(err)
	}
	err := c.StopSandbox(t.Context(), "bad")
	if err == nil || err.Error() != "agent: stop bad: device busy" {
		t.Fatalf("StopSandbox(bad) = %v, want the agent's message", err)
	}
	if !slices.Equal(stopped, []string{"sb-1", "bad"}) {
		t.Errorf("the agent stopped %q", stopped)
	}
}

func TestSandboxes(t *testing.T) {
	c := mustServe(t, &fakeAgent{sandboxes: func(context.Context) ([]string, error) {
		return []string{"a", "b", "c"}, nil
	}})
	ids, err := c.Sandboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Errorf("Sandboxes = %q", ids)
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	plain := errors.New("agent: start sb-1: template python not found")
	tests := []struct {
		name     string
		err      error
		sentinel error
		code     codes.Code
	}{
		{"runtime unavailable", fmt.Errorf("%w: runsc not installed on node-1", agentapi.ErrRuntimeUnavailable), agentapi.ErrRuntimeUnavailable, codes.FailedPrecondition},
		{"no capacity", fmt.Errorf("agent: start sb-1: %w", agentapi.ErrNoCapacity), agentapi.ErrNoCapacity, codes.ResourceExhausted},
		{"canceled", fmt.Errorf("agent: wait for envd: %w", context.Canceled), context.Canceled, codes.Canceled},
		{"deadline", fmt.Errorf("agent: wait for envd: %w", context.DeadlineExceeded), context.DeadlineExceeded, codes.DeadlineExceeded},
		{"other", plain, nil, codes.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustServe(t, &fakeAgent{start: func(context.Context, agentapi.StartRequest) (agentapi.StartResult, error) {
				return agentapi.StartResult{}, tt.err
			}})
			_, err := c.StartSandbox(t.Context(), fullStartRequest())
			if err == nil {
				t.Fatal("StartSandbox succeeded, want an error")
			}
			if err.Error() != tt.err.Error() {
				t.Errorf("message = %q, want %q", err, tt.err)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			for _, other := range []error{agentapi.ErrRuntimeUnavailable, agentapi.ErrNoCapacity, context.Canceled, context.DeadlineExceeded} {
				if other != tt.sentinel && errors.Is(err, other) {
					t.Errorf("errors.Is(%v, %v) = true", err, other)
				}
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("code = %v, want %v", got, tt.code)
			}
		})
	}
}

func TestEnvdErrorCrossesTheWire(t *testing.T) {
	c := mustServe(t, &fakeAgent{execute: func(context.Context, string, agentapi.ExecRequest, func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
		return agentapi.ExecResult{}, fmt.Errorf("agent: exec in sb-1: %w", &envdproto.Error{Code: envdproto.CodeInvalidArgument, Message: "cwd is not a directory"})
	}})
	_, err := c.Execute(t.Context(), "sb-1", fullExecRequest(), nil)
	var pe *envdproto.Error
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As(%v, *envdproto.Error) = false", err)
	}
	if pe.Code != envdproto.CodeInvalidArgument || pe.Message != "cwd is not a directory" {
		t.Errorf("envd error = %+v", pe)
	}
	if want := "agent: exec in sb-1: envd: INVALID_ARGUMENT: cwd is not a directory"; err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

func TestUnreachableNode(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close() // nothing listens there now
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = NewClient("node-2", cc).Sandboxes(t.Context())
	var e *Error
	if !errors.As(err, &e) || e.Code() != codes.Unavailable {
		t.Fatalf("Sandboxes on a dead node = %v, want an *Error with code Unavailable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "node-2") || !strings.Contains(msg, "Unavailable") {
		t.Errorf("message %q does not say which node and why", msg)
	}
}
