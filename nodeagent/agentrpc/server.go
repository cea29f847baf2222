package agentrpc

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/agentrpc/agentpb"
)

// mdEnvdOpen is the header key by which OpenEnvd's server says that envd's
// stream is open.
const mdEnvdOpen = "codeint-envd-open"

// Server serves an agentapi.Agent over gRPC. If the agent also implements
// agentapi.WarmClaimer, ClaimWarm uses it; otherwise ClaimWarm answers
// claimed=false. It is safe for concurrent use.
type Server struct {
	agent agentapi.Agent
}

// NewServer returns a Server for a.
func NewServer(a agentapi.Agent) *Server {
	return &Server{agent: a}
}

// Register adds the Agent service to g.
func (s *Server) Register(g *grpc.Server) {
	agentpb.RegisterAgentServer(g, &service{agent: s.agent})
}

// service implements agentpb.AgentServer: each method translates, calls
// the agent and translates back.
type service struct {
	agentpb.UnimplementedAgentServer
	agent agentapi.Agent
}

func (s *service) StartSandbox(ctx context.Context, req *agentpb.StartRequest) (*agentpb.StartResult, error) {
	r, err := s.agent.StartSandbox(ctx, startRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return startResultToPB(r), nil
}

func (s *service) ClaimWarm(ctx context.Context, req *agentpb.StartRequest) (*agentpb.ClaimResult, error) {
	wc, ok := s.agent.(agentapi.WarmClaimer)
	if !ok {
		return &agentpb.ClaimResult{Claimed: false}, nil
	}
	r, claimed, err := wc.ClaimWarm(ctx, startRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	if !claimed {
		return &agentpb.ClaimResult{Claimed: false}, nil
	}
	return &agentpb.ClaimResult{Claimed: true, Result: startResultToPB(r)}, nil
}

func (s *service) StopSandbox(ctx context.Context, req *agentpb.StopRequest) (*agentpb.StopResult, error) {
	if err := s.agent.StopSandbox(ctx, req.GetSandboxId()); err != nil {
		return nil, toStatus(err)
	}
	return &agentpb.StopResult{}, nil
}

func (s *service) Sandboxes(ctx context.Context, _ *agentpb.SandboxesRequest) (*agentpb.SandboxesResult, error) {
	ids, err := s.agent.Sandboxes(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &agentpb.SandboxesResult{SandboxIds: ids}, nil
}

// Execute streams the output chunks as the agent reports them, then the
// result. A chunk that cannot be sent (the caller went away) cancels the
// execution.
func (s *service) Execute(req *agentpb.ExecRequest, stream agentpb.Agent_ExecuteServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	var (
		mu      sync.Mutex // the agent may report chunks from another goroutine
		sendErr error
	)
	id, r := execRequestFromPB(req)
	res, err := s.agent.Execute(ctx, id, r, func(c agentapi.OutputChunk) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr != nil {
			return
		}
		sendErr = stream.Send(&agentpb.ExecEvent{Event: &agentpb.ExecEvent_Output{Output: chunkToPB(c)}})
		if sendErr != nil {
			cancel()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&agentpb.ExecEvent{Event: &agentpb.ExecEvent_Result{Result: execResultToPB(res)}})
}

// OpenEnvd opens the stream to envd that the first message names, says so
// in the header, then copies bytes both ways until either side ends; both
// ends are closed then.
func (s *service) OpenEnvd(stream agentpb.Agent_OpenEnvdServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err // the caller went away
	}
	conn, err := s.agent.OpenEnvd(stream.Context(), first.GetSandboxId())
	if err != nil {
		return toStatus(err)
	}
	defer conn.Close()
	if err := stream.SendHeader(metadata.Pairs(mdEnvdOpen, "1")); err != nil {
		return err
	}
	if len(first.GetData()) > 0 {
		if _, err := conn.Write(first.GetData()); err != nil {
			return toStatus(err)
		}
	}

	var clientEnded atomic.Bool
	inDone := make(chan error, 1)
	go func() {
		err := copyFromClient(conn, stream)
		clientEnded.Store(true)
		conn.Close() // ends the copy below
		inDone <- err
	}()
	outErr := copyToClient(stream, conn)
	conn.Close()
	if clientEnded.Load() {
		// The caller ended the stream (or went away) first.
		return <-inDone
	}
	// envd ended the stream. Returning ends the call, which also ends the
	// goroutine's Recv.
	return outErr
}

// copyFromClient writes what the client sends to envd until the client
// ends its side (nil) or the stream or envd fails.
func copyFromClient(conn net.Conn, stream agentpb.Agent_OpenEnvdServer) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(m.GetData()) == 0 {
			continue
		}
		if _, err := conn.Write(m.GetData()); err != nil {
			return toStatus(err)
		}
	}
}

// copyToClient sends what envd writes to the client until envd ends its
// stream (nil) or the stream or envd fails.
func copyToClient(stream agentpb.Agent_OpenEnvdServer, conn net.Conn) error {
	buf := make([]byte, maxChunk)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if serr := stream.Send(&agentpb.EnvdData{Data: buf[:n]}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return toStatus(err)
		}
	}
}
