package serverrpc

// `make generate` installs the pinned protoc plugins and puts them on PATH.
//go:generate protoc --go_out=serverpb --go_opt=paths=source_relative --go-grpc_out=serverpb --go-grpc_opt=paths=source_relative server.proto
