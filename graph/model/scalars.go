package model

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/codeint/codeint/controlplane/apperr"
)

// MarshalTime writes t as an RFC 3339 string with nanoseconds. Nullable
// fields are pointers, nil for "never"; a zero time is written as is.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 string (fractional seconds optional).
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, apperr.New(apperr.InvalidArgument, "Time must be an RFC 3339 string, got %T", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.New(apperr.InvalidArgument, "Time must be an RFC 3339 string such as 2025-01-02T15:04:05Z, got %q", s)
	}
	return t, nil
}

// MarshalInt64 writes i as a JSON number.
func MarshalInt64(i int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.FormatInt(i, 10))
	})
}

// UnmarshalInt64 reads a JSON number or a decimal string.
func UnmarshalInt64(v any) (int64, error) {
	switch v := v.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case json.Number:
		return parseInt64(string(v))
	case string:
		return parseInt64(v)
	case float64:
		if v != float64(int64(v)) {
			return 0, apperr.New(apperr.InvalidArgument, "Int64 must be an integer, got %v", v)
		}
		return int64(v), nil
	}
	return 0, apperr.New(apperr.InvalidArgument, "Int64 must be an integer, got %T", v)
}

func parseInt64(s string) (int64, error) {
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, apperr.New(apperr.InvalidArgument, "Int64 must be a 64-bit integer, got %q", s)
	}
	return i, nil
}

// MarshalRawJSON writes raw JSON as is, and nothing at all as null.
func MarshalRawJSON(raw json.RawMessage) graphql.Marshaler {
	if len(bytes.TrimSpace(raw)) == 0 {
		return graphql.Null
	}
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = w.Write(raw)
	})
}

// UnmarshalRawJSON encodes any input value (from variables or an inline
// literal) back to JSON.
func UnmarshalRawJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, apperr.New(apperr.InvalidArgument, "JSON value cannot be encoded: %v", err)
	}
	return b, nil
}
