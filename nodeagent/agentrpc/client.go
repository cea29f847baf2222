package agentrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/agentrpc/agentpb"
)

// maxResultBytes bounds one message of Execute's answer. gRPC's default,
// 4 MiB, is less than a result may hold: stdout and stderr up to
// ExecRequest.MaxOutputBytes each, the compile step's output, rich results.
const maxResultBytes = 256 << 20

// Client is a node agent on another machine: it implements agentapi.Agent
// and agentapi.WarmClaimer over a gRPC connection to the node. It is safe
// for concurrent use. Errors are *Error values (see errors.go) unless the
// call never left this process.
type Client struct {
	nodeID string
	rpc    agentpb.AgentClient
}

var (
	_ agentapi.Agent       = (*Client)(nil)
	_ agentapi.WarmClaimer = (*Client)(nil)
)

// NewClient returns the agent of node nodeID, reached over cc (whose
// credentials, mutual TLS in production, the caller chose).
func NewClient(nodeID string, cc grpc.ClientConnInterface) *Client {
	return &Client{nodeID: nodeID, rpc: agentpb.NewAgentClient(cc)}
}

// NodeID names the node the agent runs on.
func (c *Client) NodeID() string { return c.nodeID }

// StartSandbox starts a sandbox on the node; see agentapi.Agent.
func (c *Client) StartSandbox(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, error) {
	r, err := c.rpc.StartSandbox(ctx, startRequestToPB(req))
	if err != nil {
		return agentapi.StartResult{}, c.error(err)
	}
	return startResultFromPB(r), nil
}

// ClaimWarm claims a warm sandbox of req's shape; see
// agentapi.WarmClaimer. An agent that keeps no pool, or that does not
// know the call, claims nothing.
func (c *Client) ClaimWarm(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, bool, error) {
	r, err := c.rpc.ClaimWarm(ctx, startRequestToPB(req))
	if status.Code(err) == codes.Unimplemented {
		return agentapi.StartResult{}, false, nil
	}
	if err != nil {
		return agentapi.StartResult{}, false, c.error(err)
	}
	if !r.GetClaimed() {
		return agentapi.StartResult{}, false, nil
	}
	return startResultFromPB(r.GetResult()), true, nil
}

// StopSandbox stops a sandbox on the node; see agentapi.Agent.
func (c *Client) StopSandbox(ctx context.Context, sandboxID string) error {
	_, err := c.rpc.StopSandbox(ctx, &agentpb.StopRequest{SandboxId: sandboxID})
	return c.error(err)
}

// Execute runs code in a sandbox of the node. onOutput, when not nil, is
// called for every chunk, in order, before Execute returns. Cancelling ctx
// cancels the execution on the node.
func (c *Client) Execute(ctx context.Context, sandboxID string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Execute(ctx, execRequestToPB(sandboxID, req), grpc.MaxCallRecvMsgSize(maxResultBytes))
	if err != nil {
		return agentapi.ExecResult{}, c.error(err)
	}
	var res *agentpb.ExecResult
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return agentapi.ExecResult{}, c.error(err)
		}
		if res != nil {
			return agentapi.ExecResult{}, fmt.Errorf("agentrpc: node %s: execute: an event after the result", c.nodeID)
		}
		switch e := ev.GetEvent().(type) {
		case *agentpb.ExecEvent_Output:
			if onOutput != nil {
				onOutput(chunkFromPB(e.Output))
			}
		case *agentpb.ExecEvent_Result:
			res = e.Result
		}
	}
	if res == nil {
		return agentapi.ExecResult{}, fmt.Errorf("agentrpc: node %s: execute: the stream ended without a result", c.nodeID)
	}
	return execResultFromPB(res), nil
}

// Sandboxes lists the sandboxes that run on the node now.
func (c *Client) Sandboxes(ctx context.Context) ([]string, error) {
	r, err := c.rpc.Sandboxes(ctx, &agentpb.SandboxesRequest{})
	if err != nil {
		return nil, c.error(err)
	}
	return nilIfEmpty(r.GetSandboxIds()), nil
}

// OpenEnvd opens a stream to the envd of a sandbox of the node and
// returns once the node has opened it (or failed to). ctx bounds the
// opening only: like the local agent's streams, the returned net.Conn
// lives until it is closed, the node ends it, or the gRPC connection
// closes.
func (c *Client) OpenEnvd(ctx context.Context, sandboxID string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	stream, err := c.openEnvd(sctx, sandboxID)
	if !stop() { // ctx ended while the stream opened: cancel was called
		cancel()
		return nil, ctx.Err()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	local, remote := net.Addr(addr("client")), net.Addr(addr("node "+c.nodeID+"/sandbox "+sandboxID))
	if p, ok := peer.FromContext(stream.Context()); ok {
		if p.LocalAddr != nil {
			local = p.LocalAddr
		}
		if p.Addr != nil {
			remote = p.Addr
		}
	}
	return newConn(c.nodeID, stream, cancel, local, remote), nil
}

// openEnvd starts the OpenEnvd call and waits for the header metadata
// that says the node has opened envd's stream.
func (c *Client) openEnvd(ctx context.Context, sandboxID string) (envdStream, error) {
	stream, err := c.rpc.OpenEnvd(ctx)
	if err != nil {
		return nil, c.error(err)
	}
	// A failed Send (io.EOF) leaves the reason to Header and Recv.
	_ = stream.Send(&agentpb.EnvdData{SandboxId: sandboxID})
	md, err := stream.Header()
	if err == nil && len(md.Get(mdEnvdOpen)) > 0 {
		return stream, nil
	}
	if err == nil {
		_, err = stream.Recv() // the call ended without headers: its status says why
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("agentrpc: node %s: the envd stream of %s ended before it opened", c.nodeID, sandboxID)
	}
	return nil, c.error(err)
}

// error restores the error of a call; nil stays nil.
func (c *Client) error(err error) error {
	return fromStatus(c.nodeID, err)
}
