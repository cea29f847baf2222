package server

import (
	"net"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

func (s *Server) fileRequest(stream net.Conn, req *envdproto.FileRequest) {
	s.writeError(stream, envdproto.CodeInternal, "files are not implemented") // stub: to be written
}
