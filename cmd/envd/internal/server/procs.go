package server

import (
	"net"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// processTable holds background commands and terminals. (stub: to be written)
type processTable struct{}

func newProcessTable() *processTable { return &processTable{} }

func (s *Server) processRequest(stream net.Conn, req *envdproto.ProcessRequest) {
	s.writeError(stream, envdproto.CodeInternal, "processes are not implemented")
}
