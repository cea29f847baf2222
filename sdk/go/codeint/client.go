package codeint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// maxResponseBytes bounds the body of one HTTP response.
const maxResponseBytes = 64 << 20

// Client talks to one codeint server with one API key.
type Client struct {
	endpoint string // http(s)://host/graphql
	apiKey   string
	http     *http.Client
	dialer   *websocket.Dialer
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client for queries, mutations and SSE
// (default: http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithDialer sets the WebSocket dialer for subscriptions; its Subprotocols
// are ignored.
func WithDialer(d *websocket.Dialer) Option {
	return func(c *Client) { c.dialer = d }
}

// New returns a client of the server at url, either its base URL
// ("http://localhost:8080") or its GraphQL endpoint (".../graphql").
func New(url, apiKey string, opts ...Option) *Client {
	c := &Client{
		endpoint: endpointOf(url),
		apiKey:   apiKey,
		http:     http.DefaultClient,
		dialer:   &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func endpointOf(u string) string {
	u = strings.TrimRight(u, "/")
	if strings.HasSuffix(u, "/graphql") {
		return u
	}
	return u + "/graphql"
}

// request is a GraphQL request body.
type request struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
}

// response is a GraphQL response body.
type response struct {
	Data   json.RawMessage `json:"data"`
	Errors []wireError     `json:"errors"`
}

// Do runs a query or mutation and decodes its data into out (a pointer,
// or nil to drop it). Errors the server reports come back as Errors; a
// response without data or errors (e.g. a proxy's error page) comes back
// as an *Error with the HTTP status.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(request{Query: query, Variables: vars})
	if err != nil {
		return fmt.Errorf("codeint: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("codeint: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("codeint: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("codeint: read response: %w", err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil || (r.Data == nil && r.Errors == nil) {
		return statusError(resp.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return toErrors(r.Errors, resp.StatusCode)
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp.StatusCode, raw)
	}
	if out == nil || isNull(r.Data) {
		return nil
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		return fmt.Errorf("codeint: decode data: %w", err)
	}
	return nil
}

func (c *Client) authorize(h http.Header) {
	if c.apiKey != "" {
		h.Set("Authorization", "Bearer "+c.apiKey)
	}
}

// wsURL is the endpoint with a ws or wss scheme.
func (c *Client) wsURL() (string, error) {
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return "", fmt.Errorf("codeint: endpoint %q: %w", c.endpoint, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("codeint: endpoint %q: scheme must be http or https", c.endpoint)
	}
	return u.String(), nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}
