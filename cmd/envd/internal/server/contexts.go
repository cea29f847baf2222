package server

import (
	"net"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// contextTable holds the code-interpreter contexts. (stub: to be written)
type contextTable struct{}

func newContextTable() *contextTable { return &contextTable{} }

func (s *Server) contextRequest(stream net.Conn, req *envdproto.ContextRequest) {
	s.writeError(stream, envdproto.CodeInternal, "contexts are not implemented")
}
