package agentrpc

// protoc-gen-go and protoc-gen-go-grpc must be on PATH (go install
// google.golang.org/protobuf/cmd/protoc-gen-go and
// google.golang.org/grpc/cmd/protoc-gen-go-grpc; here in /root/go/bin).
//go:generate protoc --go_out=agentpb --go_opt=paths=source_relative --go-grpc_out=agentpb --go-grpc_opt=paths=source_relative agent.proto
