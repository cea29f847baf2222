package forward

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// errorDomain marks the error details written by ToStatus.
const errorDomain = "codeint"

// sentinel names an error value that must survive the wire.
type sentinel struct {
	name string
	err  error
}

// sentinels lists the errors that callers test with errors.Is after a
// forwarded call, most specific first.
func sentinels() []sentinel {
	return []sentinel{
		{"store.not_leader", store.ErrNotLeader},
		{"store.leadership_lost", store.ErrLeadershipLost},
		{"store.not_open", store.ErrNotOpen},
		{"store.closed", store.ErrClosed},
		{"store.timeout", store.ErrTimeout},
		{"agent.runtime_unavailable", agentapi.ErrRuntimeUnavailable},
		{"agent.no_capacity", agentapi.ErrNoCapacity},
		{"context.canceled", context.Canceled},
		{"context.deadline_exceeded", context.DeadlineExceeded},
	}
}

// codePairs pairs every API code with the nearest gRPC code, both ways.
func codePairs() []struct {
	api  apperr.Code
	grpc codes.Code
} {
	return []struct {
		api  apperr.Code
		grpc codes.Code
	}{
		{apperr.Unauthenticated, codes.Unauthenticated},
		{apperr.NotFound, codes.NotFound},
		{apperr.PermissionDenied, codes.PermissionDenied},
		{apperr.InvalidArgument, codes.InvalidArgument},
		{apperr.ResourceExhausted, codes.ResourceExhausted},
		{apperr.FailedPrecondition, codes.FailedPrecondition},
		{apperr.DeadlineExceeded, codes.DeadlineExceeded},
		{apperr.Unavailable, codes.Unavailable},
	}
}

// grpcCode maps an API code to the nearest gRPC code.
func grpcCode(c apperr.Code) codes.Code {
	for _, p := range codePairs() {
		if p.api == c {
			return p.grpc
		}
	}
	return codes.Internal
}

// apiCode maps a gRPC code of a status that carries no codeint details
// (a transport failure, a peer of another version) to an API code: a
// cancelled or aborted call is UNAVAILABLE.
func apiCode(c codes.Code) apperr.Code {
	if c == codes.Canceled || c == codes.Aborted {
		return apperr.Unavailable
	}
	for _, p := range codePairs() {
		if p.grpc == c {
			return p.api
		}
	}
	return apperr.Internal
}

// ToStatus turns err into a gRPC status error that FromStatus restores:
// the apperr code and message, and the name of the sentinel it wraps. nil
// stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && apperr.CodeOf(err) == apperr.Internal {
		return err // already a status (e.g. from a nested call), not ours to re-wrap
	}
	code := apperr.CodeOf(err)
	md := map[string]string{}
	for _, s := range sentinels() {
		if errors.Is(err, s.err) {
			md["sentinel"] = s.name
			break
		}
	}
	if code == apperr.Internal {
		switch md["sentinel"] {
		case "context.canceled":
			code = apperr.Unavailable
		case "context.deadline_exceeded":
			code = apperr.DeadlineExceeded
		}
	}
	st := status.New(grpcCode(code), err.Error())
	withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: string(code), Domain: errorDomain, Metadata: md})
	if derr != nil {
		return st.Err()
	}
	return withInfo.Err()
}

// FromStatus restores an error written by ToStatus: an *apperr.Error with
// the original code and message that also wraps the original sentinel, so
// errors.Is works for both. A status without codeint details (the peer was
// unreachable, the connection broke) becomes UNAVAILABLE or the nearest
// code, saying what failed.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		info, isInfo := d.(*errdetails.ErrorInfo)
		if !isInfo || info.GetDomain() != errorDomain {
			continue
		}
		appErr := apperr.New(apperr.Code(info.GetReason()), "%s", st.Message())
		name := info.GetMetadata()["sentinel"]
		for _, s := range sentinels() {
			if s.name == name {
				return fmt.Errorf("%w%w", appErr, hidden{s.err})
			}
		}
		return appErr
	}
	return apperr.New(apiCode(st.Code()), "%s", st.Message())
}

// hidden wraps a sentinel for errors.Is without adding its text to the
// message, which already says everything.
type hidden struct{ err error }

func (h hidden) Error() string { return "" }
func (h hidden) Unwrap() error { return h.err }
