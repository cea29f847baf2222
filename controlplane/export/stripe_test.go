package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "sk_test_51Exampl3Key"

// fakeStripe answers POST /v1/billing/meter_events as Stripe documents it
// and checks each request against that documentation: form-encoded body,
// Bearer secret key, the fields event_name, payload[stripe_customer_id],
// payload[value] (a whole number), identifier (at most 100 characters) and
// timestamp (Unix seconds), and nothing else. Like Stripe it keeps one
// event per identifier.
type fakeStripe struct {
	t       *testing.T
	version string // the Stripe-Version expected, if any

	mu       sync.Mutex
	requests []url.Values
	events   map[string]url.Values // by identifier
	order    []string              // identifiers in the order first accepted
	// fail, when it returns a status, answers the request with it.
	fail func(form url.Values) (status int, body string)
}

func newFakeStripe(t *testing.T) (*fakeStripe, *httptest.Server) {
	f := &fakeStripe{t: t, events: map[string]url.Values{}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts
}

var allowedFields = map[string]bool{
	"event_name": true, "payload[stripe_customer_id]": true, "payload[value]": true, "identifier": true, "timestamp": true,
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bad := func(format string, args ...any) {
		f.t.Errorf("stripe request: "+format, args...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":%q}}`, fmt.Sprintf(format, args...))
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/billing/meter_events" {
		bad("%s %s, want POST /v1/billing/meter_events", r.Method, r.URL.Path)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
		w.WriteHeader(http.StatusUnauthorized)
		f.t.Errorf("Authorization %q", got)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		bad("Content-Type %q", ct)
		return
	}
	if got := r.Header.Get("Stripe-Version"); got != f.version {
		bad("Stripe-Version %q, want %q", got, f.version)
		return
	}
	if err := r.ParseForm(); err != nil {
		bad("form: %v", err)
		return
	}
	if len(r.URL.RawQuery) > 0 {
		bad("query string %q: parameters go in the body", r.URL.RawQuery)
		return
	}
	form := r.PostForm
	for k, v := range form {
		if !allowedFields[k] {
			bad("unexpected field %q", k)
			return
		}
		if len(v) != 1 {
			bad("field %q given %d times", k, len(v))
			return
		}
	}
	if n := form.Get("event_name"); n == "" || len(n) > 100 {
		bad("event_name %q", n)
		return
	}
	if form.Get("payload[stripe_customer_id]") == "" {
		bad("no payload[stripe_customer_id]")
		return
	}
	if _, err := strconv.ParseInt(form.Get("payload[value]"), 10, 64); err != nil {
		bad("payload[value] %q is not a whole number", form.Get("payload[value]"))
		return
	}
	if id := form.Get("identifier"); id == "" || len(id) > 100 {
		bad("identifier %q", id)
		return
	}
	ts, err := strconv.ParseInt(form.Get("timestamp"), 10, 64)
	if err != nil {
		bad("timestamp %q", form.Get("timestamp"))
		return
	}

	f.mu.Lock()
	f.requests = append(f.requests, form)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if status, body := fail(form); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Request-Id", "req_fake123")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
	}
	f.mu.Lock()
	id := form.Get("identifier")
	if _, dup := f.events[id]; !dup {
		f.events[id] = form
		f.order = append(f.order, id)
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"object":     "billing.meter_event",
		"created":    time.Now().Unix(),
		"event_name": form.Get("event_name"),
		"identifier": id,
		"livemode":   false,
		"payload": map[string]string{
			"stripe_customer_id": form.Get("payload[stripe_customer_id]"),
			"value":              form.Get("payload[value]"),
		},
		"timestamp": ts,
	})
}

func (f *fakeStripe) snapshot() (requests []url.Values, events map[string]url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	events = map[string]url.Values{}
	for k, v := range f.events {
		events[k] = v
	}
	return append([]url.Values(nil), f.requests...), events
}

var customers = map[string]string{"t-alpha": "cus_Alpha", "t-beta": "cus_Beta", "t-gamma": "cus_Gamma"}

func lookupCustomer(_ context.Context, team string) (string, error) { return customers[team], nil }

func stripeSource() *memSource {
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	src.add(
		// Not a Stripe customer: skipped.
		Bucket{TeamID: "t-free", Hour: hour(10), VCPUSeconds: 500, GiBSeconds: 500},
		// vCPU-seconds round to 0 (not sent), GiB-seconds to 3.
		Bucket{TeamID: "t-gamma", Hour: hour(11), VCPUSeconds: 0.4, GiBSeconds: 2.6},
	)
	return src
}

type wantEvent struct {
	team, customer, meter string
	hour                  time.Time
	value                 int64
}

var wantStripeEvents = []wantEvent{
	{"t-alpha", "cus_Alpha", "vcpu_seconds", hour(10), 7200},
	{"t-alpha", "cus_Alpha", "gib_seconds", hour(10), 1800},
	{"t-beta", "cus_Beta", "vcpu_seconds", hour(10), 3600},
	{"t-beta", "cus_Beta", "gib_seconds", hour(10), 900},
	{"t-alpha", "cus_Alpha", "vcpu_seconds", hour(11), 120},
	{"t-alpha", "cus_Alpha", "gib_seconds", hour(11), 30},
	{"t-beta", "cus_Beta", "vcpu_seconds", hour(11), 14400},
	{"t-beta", "cus_Beta", "gib_seconds", hour(11), 3600},
	{"t-gamma", "cus_Gamma", "gib_seconds", hour(11), 3},
}

func checkEvents(t *testing.T, events map[string]url.Values, want []wantEvent) {
	t.Helper()
	if len(events) != len(want) {
		t.Errorf("%d distinct events, want %d", len(events), len(want))
	}
	for _, w := range want {
		id := MeterEventIdentifier(w.team, w.meter, w.hour)
		got, ok := events[id]
		if !ok {
			t.Errorf("no event for %+v", w)
			continue
		}
		exp := url.Values{
			"event_name":                  {w.meter},
			"payload[stripe_customer_id]": {w.customer},
			"payload[value]":              {strconv.FormatInt(w.value, 10)},
			"identifier":                  {id},
			"timestamp":                   {strconv.FormatInt(w.hour.Unix(), 10)},
		}
		if got.Encode() != exp.Encode() {
			t.Errorf("event %+v:\n got %s\nwant %s", w, got.Encode(), exp.Encode())
		}
	}
}

func TestStripeExportsOneEventPerTeamMeterHour(t *testing.T) {
	ctx := context.Background()
	fs, ts := newFakeStripe(t)
	fs.version = "2025-04-30.basil"
	cur := &memCursor{}
	e := &StripeExporter{
		Sender:   &StripeClient{SecretKey: testKey, BaseURL: ts.URL, Version: "2025-04-30.basil"},
		Customer: lookupCustomer,
		Source:   stripeSource(),
		Cursor:   cur,
	}
	now := hour(12).Add(30 * time.Minute)
	st, err := e.ExportOnce(ctx, now)
	if err != nil || st != (Stats{Hours: 2, Writes: 9, Cursor: hour(11)}) {
		t.Fatalf("ExportOnce: %+v, %v", st, err)
	}
	reqs, events := fs.snapshot()
	if len(reqs) != 9 {
		t.Fatalf("%d requests, want 9", len(reqs))
	}
	checkEvents(t, events, wantStripeEvents)

	// Nothing new: nothing sent.
	if st, err := e.ExportOnce(ctx, now); err != nil || st != (Stats{Cursor: hour(11)}) {
		t.Fatalf("again: %+v, %v", st, err)
	}
	if reqs, _ := fs.snapshot(); len(reqs) != 9 {
		t.Fatalf("%d requests after a pass with nothing to do", len(reqs))
	}
}

func TestStripeRetrySendsSameIdentifiers(t *testing.T) {
	ctx := context.Background()
	fs, ts := newFakeStripe(t)
	failID := MeterEventIdentifier("t-beta", "vcpu_seconds", hour(11))
	failed := false
	fs.fail = func(form url.Values) (int, string) {
		if form.Get("identifier") == failID && !failed {
			failed = true
			return http.StatusInternalServerError, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`
		}
		return 0, ""
	}
	cur := &memCursor{}
	e := &StripeExporter{Sender: &StripeClient{SecretKey: testKey, BaseURL: ts.URL}, Customer: lookupCustomer, Source: stripeSource(), Cursor: cur}
	now := hour(12).Add(30 * time.Minute)

	st, err := e.ExportOnce(ctx, now)
	var se *StripeError
	if !errors.As(err, &se) || se.StatusCode != 500 || se.Type != "api_error" || se.RequestID != "req_fake123" || !se.Temporary() {
		t.Fatalf("error %v (%#v), want a wrapped *StripeError 500 api_error", err, se)
	}
	if !strings.Contains(err.Error(), failID) || !strings.Contains(err.Error(), "t-beta") {
		t.Errorf("error does not say which event: %v", err)
	}
	if st.Hours != 1 || !cur.get().Equal(hour(10)) {
		t.Fatalf("after failure: %+v, cursor %v; want cursor at hour 10", st, cur.get())
	}
	first, _ := fs.snapshot()

	st, err = e.ExportOnce(ctx, now)
	if err != nil || st.Hours != 1 || !st.Cursor.Equal(hour(11)) {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	all, events := fs.snapshot()
	retry := all[len(first):]
	// The retry resends all of hour 11, with the identifiers of the first
	// try: alpha's two events that went through are sent again as they were.
	if len(retry) != 5 {
		t.Fatalf("retry sent %d events, want the 5 of hour 11", len(retry))
	}
	firstTry := first[4:] // after the 4 events of hour 10
	for i, f := range firstTry {
		if f.Encode() != retry[i].Encode() {
			t.Errorf("retry request %d differs:\n first %s\n retry %s", i, f.Encode(), retry[i].Encode())
		}
	}
	// Stripe keeps one event per identifier: the exact set, once each.
	checkEvents(t, events, wantStripeEvents)
}

func TestStripeErrorsSurface(t *testing.T) {
	ctx := context.Background()
	fs, ts := newFakeStripe(t)
	fs.fail = func(url.Values) (int, string) {
		return http.StatusBadRequest, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"event_name","message":"No active meter found for event_name vcpu_seconds"}}`
	}
	cur := &memCursor{}
	e := &StripeExporter{Sender: &StripeClient{SecretKey: testKey, BaseURL: ts.URL}, Customer: lookupCustomer, Source: stripeSource(), Cursor: cur}
	_, err := e.ExportOnce(ctx, hour(12).Add(30*time.Minute))
	var se *StripeError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *StripeError", err)
	}
	want := StripeError{StatusCode: 400, Type: "invalid_request_error", Code: "resource_missing", Param: "event_name",
		Message: "No active meter found for event_name vcpu_seconds", RequestID: "req_fake123"}
	if *se != want || se.Temporary() {
		t.Fatalf("got %#v, want %#v", *se, want)
	}
	if !strings.Contains(err.Error(), "No active meter found") || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("message %q", err)
	}
	if !cur.get().IsZero() {
		t.Fatal("cursor moved")
	}

	// A body that is not JSON, and a rate limit.
	fs.fail = func(url.Values) (int, string) { return http.StatusBadGateway, "<html>bad gateway</html>" }
	err = (&StripeClient{SecretKey: testKey, BaseURL: ts.URL}).SendMeterEvent(ctx, MeterEvent{EventName: "m", CustomerID: "c", Value: 1, Identifier: "i", Timestamp: hour(1)})
	if !errors.As(err, &se) || se.StatusCode != 502 || se.Message != "<html>bad gateway</html>" || !se.Temporary() {
		t.Fatalf("502: %v", err)
	}
	fs.fail = func(url.Values) (int, string) {
		return http.StatusTooManyRequests, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`
	}
	err = (&StripeClient{SecretKey: testKey, BaseURL: ts.URL}).SendMeterEvent(ctx, MeterEvent{EventName: "m", CustomerID: "c", Value: 1, Identifier: "i", Timestamp: hour(1)})
	if !errors.As(err, &se) || se.StatusCode != 429 || se.Code != "rate_limit" || !se.Temporary() {
		t.Fatalf("429: %v", err)
	}

	// A transport failure is an error too, not a *StripeError.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	err = (&StripeClient{SecretKey: testKey, BaseURL: dead.URL}).SendMeterEvent(ctx, MeterEvent{EventName: "m", CustomerID: "c", Value: 1, Identifier: "i"})
	if err == nil || errors.As(err, &se) {
		t.Fatalf("transport failure: %v", err)
	}
	if err := (&StripeClient{BaseURL: ts.URL}).SendMeterEvent(ctx, MeterEvent{}); err == nil {
		t.Fatal("no secret key: no error")
	}
}

func TestStripeCustomerLookupFailureRetriesHour(t *testing.T) {
	ctx := context.Background()
	fs, ts := newFakeStripe(t)
	down := true
	cur := &memCursor{}
	e := &StripeExporter{
		Sender: &StripeClient{SecretKey: testKey, BaseURL: ts.URL},
		Customer: func(ctx context.Context, team string) (string, error) {
			if down && team == "t-beta" {
				return "", errInjected
			}
			return lookupCustomer(ctx, team)
		},
		Source: stripeSource(),
		Cursor: cur,
	}
	now := hour(12).Add(30 * time.Minute)
	if _, err := e.ExportOnce(ctx, now); !errors.Is(err, errInjected) {
		t.Fatalf("error %v, want injected", err)
	}
	if !cur.get().IsZero() {
		t.Fatalf("cursor %v moved", cur.get())
	}
	down = false
	if st, err := e.ExportOnce(ctx, now); err != nil || st.Cursor != hour(11) {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	_, events := fs.snapshot()
	checkEvents(t, events, wantStripeEvents)
}

func TestStripeCustomMeters(t *testing.T) {
	ctx := context.Background()
	fs, ts := newFakeStripe(t)
	src := &memSource{}
	// Two buckets of one team and hour are summed into one event.
	src.add(Bucket{TeamID: "t-alpha", Hour: hour(10), CostMicros: 1500}, Bucket{TeamID: "t-alpha", Hour: hour(10), CostMicros: 500})
	e := &StripeExporter{
		Sender:   &StripeClient{SecretKey: testKey, BaseURL: ts.URL},
		Customer: lookupCustomer,
		Meters:   []Meter{{EventName: "cost_micros", Value: func(b Bucket) int64 { return b.CostMicros }}},
		Source:   src,
		Cursor:   &memCursor{},
	}
	if st, err := e.ExportOnce(ctx, hour(12)); err != nil || st.Writes != 1 {
		t.Fatalf("%+v, %v", st, err)
	}
	_, events := fs.snapshot()
	checkEvents(t, events, []wantEvent{{"t-alpha", "cus_Alpha", "cost_micros", hour(10), 2000}})
}

func TestMeterEventIdentifier(t *testing.T) {
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]string{}
	for _, team := range []string{"t-alpha", "t-beta"} {
		for _, meter := range []string{"vcpu_seconds", "gib_seconds"} {
			for _, h := range []time.Time{hour(10), hour(11), hour(10).AddDate(0, 0, 1)} {
				id := MeterEventIdentifier(team, meter, h)
				if !hex64.MatchString(id) {
					t.Fatalf("identifier %q is not 64 hex digits", id)
				}
				if id != MeterEventIdentifier(team, meter, h) {
					t.Fatal("identifier not stable")
				}
				what := fmt.Sprint(team, meter, h)
				if prev, dup := seen[id]; dup {
					t.Fatalf("%s and %s share identifier %s", prev, what, id)
				}
				seen[id] = what
			}
		}
	}
	// The same instant in another zone is the same hour.
	if MeterEventIdentifier("t", "m", hour(10)) != MeterEventIdentifier("t", "m", hour(10).In(time.FixedZone("X", -7*3600))) {
		t.Fatal("identifier depends on the time zone")
	}
	// Shifting bytes between team and meter changes the identifier.
	if MeterEventIdentifier("ab", "c", hour(1)) == MeterEventIdentifier("a", "bc", hour(1)) {
		t.Fatal("ambiguous identifier")
	}
	// Pinned: a change of the formula would count every redone hour twice.
	const golden = "9cf83afec96ff6c3c76a5e2ca81b0b8c0e732cb2e8cdd9bcc5dc7f3e5488b4be"
	if got := MeterEventIdentifier("t-alpha", "vcpu_seconds", hour(10)); got != golden {
		t.Fatalf("identifier changed: %s", got)
	}
}
