package codeint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/codeint/codeint/sdk/go/codeint"
)

func TestDo(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantErr    bool
		wantCode   string
		wantStatus int
	}{
		{"data", 200, `{"data":{"viewer":{"team":{"id":"t1"}}}}`, false, "", 0},
		{"graphql errors", 200, `{"data":{"sandbox":null},"errors":[{"message":"sandbox sb-1 not found","path":["sandbox"],"extensions":{"code":"NOT_FOUND"}}]}`, true, "NOT_FOUND", 200},
		{"validation error", 422, `{"errors":[{"message":"Expected type Language","extensions":{"code":"INVALID_ARGUMENT"}}],"data":null}`, true, "INVALID_ARGUMENT", 422},
		{"unauthenticated", 401, `{"errors":[{"message":"the API key is not valid","extensions":{"code":"UNAUTHENTICATED"}}]}`, true, "UNAUTHENTICATED", 401},
		{"proxy page", 502, `<html>bad gateway</html>`, true, "UNAVAILABLE", 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/graphql" || r.Header.Get("Authorization") != "Bearer k1" || r.Header.Get("Content-Type") != "application/json" {
					http.Error(w, "bad request", http.StatusTeapot)
					return
				}
				var req struct {
					Query     string         `json:"query"`
					Variables map[string]any `json:"variables"`
				}
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Query == "" || req.Variables["x"] != "y" {
					http.Error(w, "bad body", http.StatusTeapot)
					return
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := codeint.New(srv.URL+"/", "k1")
			var out struct {
				Viewer struct {
					Team struct {
						ID string `json:"id"`
					} `json:"team"`
				} `json:"viewer"`
			}
			err := c.Do(context.Background(), "{ viewer { team { id } } }", map[string]any{"x": "y"}, &out)
			if !tt.wantErr {
				if err != nil || out.Viewer.Team.ID != "t1" {
					t.Fatalf("out = %+v, err = %v", out, err)
				}
				return
			}
			var e *codeint.Error
			if !errors.As(err, &e) || e.Code != tt.wantCode || e.StatusCode != tt.wantStatus || e.Message == "" {
				t.Fatalf("err = %#v, want code %s status %d", err, tt.wantCode, tt.wantStatus)
			}
			if codeint.CodeOf(err) != tt.wantCode {
				t.Fatalf("CodeOf = %q", codeint.CodeOf(err))
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	for _, base := range []string{"", "/", "/graphql", "/graphql/"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/graphql" {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			io.WriteString(w, `{"data":{}}`)
		}))
		if err := codeint.New(srv.URL+base, "k").Do(context.Background(), "{ viewer { team { id } } }", nil, nil); err != nil {
			t.Errorf("base %q: %v", base, err)
		}
		srv.Close()
	}
}

func TestSubscribeSSE(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Authorization") != "Bearer k1" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"message":"no","extensions":{"code":"UNAUTHENTICATED"}}]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		io.WriteString(w, ":\n\n")
		io.WriteString(w, "event: next\ndata: {\"data\":{\"n\":1}}\n\n")
		io.WriteString(w, ": ping\n\n")
		io.WriteString(w, "event: next\r\ndata: {\"data\":\r\ndata: {\"n\":2}}\r\n\r\n")
		f.Flush()
		if r.URL.Query().Get("cut") != "" {
			return
		}
		io.WriteString(w, "event: next\ndata: {\"errors\":[{\"message\":\"boom\",\"extensions\":{\"code\":\"UNAVAILABLE\"}}],\"data\":null}\n\n")
		io.WriteString(w, "event: complete\n\n")
	}))
	defer srv.Close()
	ctx := context.Background()

	sub, err := codeint.New(srv.URL, "k1").SubscribeSSE(ctx, "subscription { n }", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, want := range []string{`{"n":1}`, "{\"n\":2}"} {
		raw, err := sub.Next(ctx)
		if err != nil || strings.ReplaceAll(string(raw), "\n", "") != want {
			t.Fatalf("Next = %s, %v; want %s", raw, err, want)
		}
	}
	if _, err := sub.Next(ctx); codeint.CodeOf(err) != codeint.CodeUnavailable {
		t.Fatalf("Next = %v, want the UNAVAILABLE error", err)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %v, want io.EOF", err)
	}

	cut, err := codeint.New(srv.URL+"/graphql?cut=1", "k1").SubscribeSSE(ctx, "subscription { n }", nil)
	if err == nil {
		defer cut.Close()
		for err == nil {
			_, err = cut.Next(ctx)
		}
	}
	if codeint.CodeOf(err) != codeint.CodeUnavailable {
		t.Fatalf("cut stream: %v, want UNAVAILABLE", err)
	}

	if _, err := codeint.New(srv.URL, "bad").SubscribeSSE(ctx, "subscription { n }", nil); codeint.CodeOf(err) != codeint.CodeUnauthenticated {
		t.Fatalf("bad key: %v", err)
	}
}

// wsServer runs script on each accepted graphql-transport-ws connection.
func wsServer(t *testing.T, script func(t *testing.T, c *websocket.Conn)) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{"graphql-transport-ws"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		script(t, c)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type msg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func expect(t *testing.T, c *websocket.Conn, typ string) msg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m msg
	if err := c.ReadJSON(&m); err != nil {
		t.Errorf("server: want %s: %v", typ, err)
		return m
	}
	if m.Type != typ {
		t.Errorf("server: got %s %s, want %s", m.Type, m.Payload, typ)
	}
	return m
}

func TestSubscribeWebSocket(t *testing.T) {
	completed := make(chan struct{})
	srv := wsServer(t, func(t *testing.T, c *websocket.Conn) {
		init := expect(t, c, "connection_init")
		if string(init.Payload) != `{"authorization":"Bearer k1"}` {
			t.Errorf("init payload = %s", init.Payload)
		}
		c.WriteJSON(msg{Type: "ping"})
		expect(t, c, "pong")
		c.WriteJSON(msg{Type: "connection_ack"})
		sub := expect(t, c, "subscribe")
		if !strings.Contains(string(sub.Payload), `"query":"subscription { n }"`) {
			t.Errorf("subscribe payload = %s", sub.Payload)
		}
		for i := 1; i <= 2; i++ {
			c.WriteJSON(msg{ID: sub.ID, Type: "next", Payload: json.RawMessage(fmt.Sprintf(`{"data":{"n":%d}}`, i))})
		}
		c.WriteJSON(msg{Type: "ping"})
		expect(t, c, "pong")
		c.WriteJSON(msg{ID: sub.ID, Type: "error", Payload: json.RawMessage(`[{"message":"bad","extensions":{"code":"INVALID_ARGUMENT"}}]`)})
		// A client that closes a finished subscription may still say complete.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			var m msg
			if err := c.ReadJSON(&m); err != nil {
				break
			}
		}
		close(completed)
	})
	ctx := context.Background()
	sub, err := codeint.New(srv.URL, "k1").Subscribe(ctx, "subscription { n }", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		raw, err := sub.Next(ctx)
		if err != nil || string(raw) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("Next = %s, %v", raw, err)
		}
	}
	if _, err := sub.Next(ctx); codeint.CodeOf(err) != codeint.CodeInvalidArgument {
		t.Fatalf("Next = %v, want INVALID_ARGUMENT", err)
	}
	if _, err := sub.Next(ctx); codeint.CodeOf(err) != codeint.CodeInvalidArgument {
		t.Fatalf("Next after the end = %v, want the same error", err)
	}
	sub.Close()
	select {
	case <-completed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
}

func TestSubscribeWebSocketClose(t *testing.T) {
	gotComplete := make(chan string, 1)
	srv := wsServer(t, func(t *testing.T, c *websocket.Conn) {
		expect(t, c, "connection_init")
		c.WriteJSON(msg{Type: "connection_ack"})
		sub := expect(t, c, "subscribe")
		c.WriteJSON(msg{ID: sub.ID, Type: "next", Payload: json.RawMessage(`{"data":{"n":1}}`)})
		m := expect(t, c, "complete")
		gotComplete <- m.ID
	})
	ctx := context.Background()
	sub, err := codeint.New(srv.URL, "k1").Subscribe(ctx, "subscription { n }", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	sub.Close() // twice is fine
	select {
	case id := <-gotComplete:
		if id == "" {
			t.Fatal("complete without the operation id")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server heard no complete")
	}
	if _, err := sub.Next(ctx); !errors.Is(err, codeint.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
}

func TestSubscribeWebSocketForbidden(t *testing.T) {
	srv := wsServer(t, func(t *testing.T, c *websocket.Conn) {
		expect(t, c, "connection_init")
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4403, "Forbidden"))
	})
	_, err := codeint.New(srv.URL, "bad").Subscribe(context.Background(), "subscription { n }", nil)
	var e *codeint.Error
	if !errors.As(err, &e) || e.CloseCode != 4403 || e.Code != codeint.CodeUnauthenticated {
		t.Fatalf("err = %#v, want close 4403 UNAUTHENTICATED", err)
	}
}
