package codeint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The graphql-transport-ws protocol, as spoken by the graphql-ws library.
const (
	wsSubprotocol = "graphql-transport-ws"
	wsOpID        = "1" // one operation per connection
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsConn serialises writes to a gorilla connection.
type wsConn struct {
	c  *websocket.Conn
	mu sync.Mutex
}

func (w *wsConn) send(m wsMessage) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.WriteJSON(m)
}

// Subscribe opens a subscription over a WebSocket with the
// graphql-transport-ws protocol; the API key goes in connection_init.
// ctx bounds the connection's setup and the subscription's life.
func (c *Client) Subscribe(ctx context.Context, query string, vars map[string]any) (*Subscription, error) {
	u, err := c.wsURL()
	if err != nil {
		return nil, err
	}
	d := *c.dialer
	d.Subprotocols = []string{wsSubprotocol}
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, dialError(resp, err)
	}
	ws := &wsConn{c: conn}
	if err := c.wsStart(ctx, ws, query, vars); err != nil {
		_ = conn.Close()
		return nil, err
	}
	teardown := func() {
		_ = ws.send(wsMessage{ID: wsOpID, Type: "complete"})
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = conn.Close()
	}
	return newSubscription(ctx, teardown, func(s *Subscription) error { return wsRead(s, ws) }), nil
}

// wsStart runs the handshake: connection_init, connection_ack, subscribe.
func (c *Client) wsStart(ctx context.Context, ws *wsConn, query string, vars map[string]any) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = ws.c.SetReadDeadline(deadline)
	_ = ws.c.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = ws.c.SetReadDeadline(time.Now()) })
	defer stop()

	init, _ := json.Marshal(map[string]string{"authorization": "Bearer " + c.apiKey})
	if err := ws.send(wsMessage{Type: "connection_init", Payload: init}); err != nil {
		return fmt.Errorf("codeint: websocket connection_init: %w", err)
	}
	for acked := false; !acked; {
		var m wsMessage
		if err := ws.c.ReadJSON(&m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return closeError(err)
		}
		switch m.Type {
		case "connection_ack":
			acked = true
		case "ping":
			if err := ws.send(wsMessage{Type: "pong"}); err != nil {
				return fmt.Errorf("codeint: websocket pong: %w", err)
			}
		}
	}
	payload, err := json.Marshal(request{Query: query, Variables: vars})
	if err != nil {
		return fmt.Errorf("codeint: encode request: %w", err)
	}
	if err := ws.send(wsMessage{ID: wsOpID, Type: "subscribe", Payload: payload}); err != nil {
		return fmt.Errorf("codeint: websocket subscribe: %w", err)
	}
	_ = ws.c.SetReadDeadline(time.Time{})
	_ = ws.c.SetWriteDeadline(time.Time{})
	return nil
}

// wsRead delivers results until complete, an error message or the end of
// the connection; it returns why the stream ended.
func wsRead(s *Subscription, ws *wsConn) error {
	defer ws.c.Close()
	for {
		var m wsMessage
		if err := ws.c.ReadJSON(&m); err != nil {
			return closeError(err)
		}
		switch m.Type {
		case "next":
			if !s.deliver(decodePayload(m.Payload)) {
				return ErrClosed
			}
		case "error":
			var errs []wireError
			if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
				return &Error{Message: "subscription failed: " + string(m.Payload), Code: CodeInternal}
			}
			return toErrors(errs, 0)
		case "complete":
			return io.EOF
		case "ping":
			if err := ws.send(wsMessage{Type: "pong"}); err != nil {
				return closeError(err)
			}
		}
	}
}

// closeError describes why a connection ended; a close by the server with
// a code becomes an *Error.
func closeError(err error) error {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return &Error{Message: "websocket: " + err.Error(), Code: CodeUnavailable}
	}
	code := CodeUnavailable
	switch ce.Code {
	case 4401, 4403:
		code = CodeUnauthenticated
	case 4400, 4409, websocket.CloseProtocolError, websocket.CloseUnsupportedData:
		code = CodeInvalidArgument
	case 4429:
		code = CodeResourceExhausted
	case websocket.CloseInternalServerErr:
		code = CodeInternal
	}
	msg := fmt.Sprintf("websocket closed by the server: %d %s", ce.Code, ce.Text)
	return &Error{Message: msg, Code: code, CloseCode: ce.Code}
}

// dialError describes a failed WebSocket upgrade, with the server's
// GraphQL errors when it answered with some.
func dialError(resp *http.Response, err error) error {
	if resp == nil {
		return fmt.Errorf("codeint: websocket dial: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var r response
	if json.Unmarshal(raw, &r) == nil && len(r.Errors) > 0 {
		return toErrors(r.Errors, resp.StatusCode)
	}
	return statusError(resp.StatusCode, raw)
}
