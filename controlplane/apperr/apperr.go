package apperr

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error class, the value of extensions.code.
type Code string

// The codes, as in DESIGN.md.
const (
	Unauthenticated    Code = "UNAUTHENTICATED"
	NotFound           Code = "NOT_FOUND"
	PermissionDenied   Code = "PERMISSION_DENIED" // authenticated, but the key may not do this
	InvalidArgument    Code = "INVALID_ARGUMENT"
	ResourceExhausted  Code = "RESOURCE_EXHAUSTED"
	FailedPrecondition Code = "FAILED_PRECONDITION"
	DeadlineExceeded   Code = "DEADLINE_EXCEEDED"
	Unavailable        Code = "UNAVAILABLE"
	Internal           Code = "INTERNAL"
)

// Error is an error with a code. Message is shown to the caller as is.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is matches any *Error with the same code, so errors.Is(err, ErrNotFound)
// holds for every NOT_FOUND error whatever its message.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Sentinels to compare with errors.Is.
var (
	ErrUnauthenticated    = &Error{Code: Unauthenticated, Message: "unauthenticated"}
	ErrNotFound           = &Error{Code: NotFound, Message: "not found"}
	ErrPermissionDenied   = &Error{Code: PermissionDenied, Message: "permission denied"}
	ErrInvalidArgument    = &Error{Code: InvalidArgument, Message: "invalid argument"}
	ErrResourceExhausted  = &Error{Code: ResourceExhausted, Message: "resource exhausted"}
	ErrFailedPrecondition = &Error{Code: FailedPrecondition, Message: "failed precondition"}
	ErrDeadlineExceeded   = &Error{Code: DeadlineExceeded, Message: "deadline exceeded"}
	ErrUnavailable        = &Error{Code: Unavailable, Message: "unavailable"}
	ErrInternal           = &Error{Code: Internal, Message: "internal error"}
)

// New returns an error with the code and a formatted message.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal
// when there is none (and "" for a nil error).
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
