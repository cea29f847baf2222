package codeint

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// SubscribeSSE opens a subscription over Server-Sent Events: a POST with
// Accept: text/event-stream whose response streams "next" events and a
// final "complete". ctx bounds the subscription's life.
func (c *Client) SubscribeSSE(ctx context.Context, query string, vars map[string]any) (*Subscription, error) {
	body, err := json.Marshal(request{Query: query, Variables: vars})
	if err != nil {
		return nil, fmt.Errorf("codeint: encode request: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("codeint: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("codeint: %w", err)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		defer cancel()
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var r response
		if json.Unmarshal(raw, &r) == nil && len(r.Errors) > 0 {
			return nil, toErrors(r.Errors, resp.StatusCode)
		}
		return nil, statusError(resp.StatusCode, raw)
	}
	teardown := func() {
		cancel()
		_ = resp.Body.Close()
	}
	return newSubscription(ctx, teardown, func(s *Subscription) error {
		defer cancel()
		defer resp.Body.Close()
		return sseRead(s, resp.Body)
	}), nil
}

// sseRead delivers the "next" events of an event stream until "complete".
func sseRead(s *Subscription, body io.Reader) error {
	r := bufio.NewReaderSize(body, 64<<10)
	var name string
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				return &Error{Message: "event stream ended before it completed", Code: CodeUnavailable}
			}
			return &Error{Message: "event stream: " + err.Error(), Code: CodeUnavailable}
		}
		line = strings.TrimRight(line, "\r\n")
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			ev, payload := name, data.String()
			name = ""
			data.Reset()
			switch ev {
			case "complete":
				return io.EOF
			case "next", "":
				if payload == "" {
					continue // a comment-only block, e.g. a keep-alive
				}
				if !s.deliver(decodePayload(json.RawMessage(payload))) {
					return ErrClosed
				}
			}
		case field == "":
			// a comment line
		case field == "event":
			name = value
		case field == "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
}
