package agentrpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// errorDomain marks the ErrorInfo details written by toStatus.
const errorDomain = "agent.codeint"

// Metadata keys of the ErrorInfo detail that carry an *envdproto.Error.
const (
	mdEnvdCode    = "envd_code"
	mdEnvdMessage = "envd_message"
)

// reasonOther is the ErrorInfo reason of an error that wraps no sentinel.
const reasonOther = "AGENT_ERROR"

// sentinel is an error value that must survive the wire, the reason that
// names it there and the gRPC code it travels with.
type sentinel struct {
	reason string
	err    error
	code   codes.Code
}

// sentinels lists the errors callers test with errors.Is after a remote
// call, most specific first.
func sentinels() []sentinel {
	return []sentinel{
		{"RUNTIME_UNAVAILABLE", agentapi.ErrRuntimeUnavailable, codes.FailedPrecondition},
		{"NO_CAPACITY", agentapi.ErrNoCapacity, codes.ResourceExhausted},
		{"CANCELED", context.Canceled, codes.Canceled},
		{"DEADLINE_EXCEEDED", context.DeadlineExceeded, codes.DeadlineExceeded},
	}
}

// toStatus turns an agent's error into a gRPC status error that fromStatus
// restores: the message as is, the sentinel it wraps, and the envd error
// it wraps, if any. nil stays nil.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code := codes.Unknown
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		code = st.Code() // an error of a nested remote call keeps its code
	}
	info := &errdetails.ErrorInfo{Reason: reasonOther, Domain: errorDomain}
	for _, s := range sentinels() {
		if errors.Is(err, s.err) {
			info.Reason, code = s.reason, s.code
			break
		}
	}
	var envdErr *envdproto.Error
	if errors.As(err, &envdErr) {
		info.Metadata = map[string]string{mdEnvdCode: envdErr.Code, mdEnvdMessage: envdErr.Message}
	}
	st := status.New(code, err.Error())
	if withInfo, derr := st.WithDetails(info); derr == nil {
		st = withInfo
	}
	return st.Err()
}

// fromStatus restores an error that toStatus wrote, or describes a failed
// call (the node unreachable, the connection broken) as an *Error of
// nodeID. Errors that are not statuses, io.EOF among them, stay as they
// are; nil stays nil.
func fromStatus(nodeID string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{nodeID: nodeID, status: st}
	for _, d := range st.Details() {
		info, isInfo := d.(*errdetails.ErrorInfo)
		if !isInfo || info.GetDomain() != errorDomain {
			continue
		}
		e.remote = true
		for _, s := range sentinels() {
			if s.reason == info.GetReason() {
				e.sentinel = s.err
			}
		}
		if code, ok := info.GetMetadata()[mdEnvdCode]; ok {
			e.envd = &envdproto.Error{Code: code, Message: info.GetMetadata()[mdEnvdMessage]}
		}
		return e
	}
	// Statuses the gRPC library made itself: the caller's context ended.
	switch st.Code() {
	case codes.Canceled:
		e.sentinel = context.Canceled
	case codes.DeadlineExceeded:
		e.sentinel = context.DeadlineExceeded
	}
	return e
}

// Error is an error that a call to a remote agent returned: the agent's
// own error, with its message unchanged, or the failure of the call (the
// node unreachable, the connection broken). errors.Is finds the sentinel
// the agent's error wrapped (agentapi.ErrRuntimeUnavailable,
// agentapi.ErrNoCapacity, context.Canceled, context.DeadlineExceeded) and
// errors.As the *envdproto.Error; status.Code reports the gRPC code.
type Error struct {
	nodeID   string
	status   *status.Status
	remote   bool  // the agent returned it (it is not the call's failure)
	sentinel error // nil when none
	envd     *envdproto.Error
}

// Error returns the agent's message, or says which call to which node
// failed and why.
func (e *Error) Error() string {
	if e.remote {
		return e.status.Message()
	}
	return fmt.Sprintf("agentrpc: node %s: %s: %s", e.nodeID, e.status.Code(), e.status.Message())
}

// Unwrap returns the sentinel and the envd error the agent's error
// wrapped.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.sentinel != nil {
		errs = append(errs, e.sentinel)
	}
	if e.envd != nil {
		errs = append(errs, e.envd)
	}
	return errs
}

// Code is the gRPC code the call ended with.
func (e *Error) Code() codes.Code { return e.status.Code() }

// GRPCStatus returns the status the call ended with, for status.FromError
// and status.Code.
func (e *Error) GRPCStatus() *status.Status { return e.status }
