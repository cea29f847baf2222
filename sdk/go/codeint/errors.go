package codeint

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes the server puts in extensions.code.
const (
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeNotFound           = "NOT_FOUND"
	CodeInvalidArgument    = "INVALID_ARGUMENT"
	CodeResourceExhausted  = "RESOURCE_EXHAUSTED"
	CodeFailedPrecondition = "FAILED_PRECONDITION"
	CodeDeadlineExceeded   = "DEADLINE_EXCEEDED"
	CodeUnavailable        = "UNAVAILABLE"
	CodeInternal           = "INTERNAL"
)

// Error is one error the server reported.
type Error struct {
	Message string
	Code    string // extensions.code, e.g. "NOT_FOUND"
	Path    []any  // the response field it concerns, when any
	// StatusCode is the HTTP status of the response that carried it, 0 on
	// a WebSocket.
	StatusCode int
	// CloseCode is the WebSocket close code when the server closed the
	// connection (e.g. 4403 for a missing or invalid key), else 0.
	CloseCode int
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// Errors is the list of errors of one response. It is never empty.
type Errors []*Error

// Error joins the errors' texts with "; ".
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// CodeOf returns the code of the first *Error in err's tree, or "" when
// there is none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrClosed is what Next returns after Close.
var ErrClosed = errors.New("codeint: subscription closed")

// wireError is an error as it travels in a GraphQL response.
type wireError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func toErrors(ws []wireError, status int) Errors {
	out := make(Errors, len(ws))
	for i, w := range ws {
		code, _ := w.Extensions["code"].(string)
		out[i] = &Error{Message: w.Message, Code: code, Path: w.Path, StatusCode: status}
	}
	return out
}

// statusError describes an HTTP response that carried no GraphQL errors.
func statusError(status int, body []byte) *Error {
	code := CodeInternal
	switch {
	case status == 401 || status == 403:
		code = CodeUnauthenticated
	case status == 404:
		code = CodeNotFound
	case status == 429:
		code = CodeResourceExhausted
	case status == 503 || status == 502:
		code = CodeUnavailable
	case status == 504:
		code = CodeDeadlineExceeded
	case status >= 400 && status < 500:
		code = CodeInvalidArgument
	}
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	return &Error{Message: fmt.Sprintf("HTTP %d: %s", status, snippet), Code: code, StatusCode: status}
}
