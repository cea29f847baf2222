package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultStripeURL is Stripe's API.
const DefaultStripeURL = "https://api.stripe.com"

// StripeClient sends meter events to Stripe's documented
// POST /v1/billing/meter_events, form-encoded, with the secret key as a
// Bearer token. It makes one attempt per call: the exporter's next pass is
// the retry, and the identifier makes it safe.
type StripeClient struct {
	// SecretKey is the API key (sk_… or a restricted rk_…). Required.
	SecretKey string
	// BaseURL is DefaultStripeURL when empty.
	BaseURL string
	// Version, when set, is sent as the Stripe-Version header; otherwise
	// the account's default API version applies.
	Version string
	// HTTPClient is a client with a 30 s timeout when nil.
	HTTPClient *http.Client
}

var _ MeterEventSender = (*StripeClient)(nil)

// defaultTimeout bounds a call when no HTTPClient is given.
const defaultTimeout = 30 * time.Second

// StripeError is a non-2xx answer of Stripe, with the fields of its error
// object when the body had one.
type StripeError struct {
	StatusCode int
	Type       string // e.g. invalid_request_error, api_error
	Code       string
	Param      string
	Message    string
	RequestID  string // the Request-Id header
}

func (e *StripeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stripe: HTTP %d", e.StatusCode)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Param != "" {
		b.WriteString(" param " + e.Param)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [request " + e.RequestID + "]")
	}
	return b.String()
}

// Temporary tells whether trying again later may succeed: rate limiting
// (429), a conflict (409) or a server error.
func (e *StripeError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusConflict || e.StatusCode >= 500
}

// SendMeterEvent creates one billing meter event. A non-2xx answer is a
// *StripeError (use errors.As); a transport failure is returned wrapped.
func (c *StripeClient) SendMeterEvent(ctx context.Context, ev MeterEvent) error {
	if c.SecretKey == "" {
		return errors.New("stripe: no secret key")
	}
	form := url.Values{}
	form.Set("event_name", ev.EventName)
	form.Set("payload[stripe_customer_id]", ev.CustomerID)
	form.Set("payload[value]", strconv.FormatInt(ev.Value, 10))
	if ev.Identifier != "" {
		form.Set("identifier", ev.Identifier)
	}
	if !ev.Timestamp.IsZero() {
		form.Set("timestamp", strconv.FormatInt(ev.Timestamp.Unix(), 10))
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultStripeURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/v1/billing/meter_events", strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("stripe: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.SecretKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.Version != "" {
		req.Header.Set("Stripe-Version", c.Version)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("stripe: POST /v1/billing/meter_events: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := &StripeError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("Request-Id")}
	var parsed struct {
		Error struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Param   string `json:"param"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		se.Type, se.Code, se.Param, se.Message = parsed.Error.Type, parsed.Error.Code, parsed.Error.Param, parsed.Error.Message
	} else if len(body) > 0 {
		se.Message = strings.TrimSpace(string(body[:min(len(body), 512)]))
	}
	return se
}
