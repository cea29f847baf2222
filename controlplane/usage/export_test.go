package usage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/export"
	"github.com/codeint/codeint/controlplane/export/s3test"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/store/storetest"
	"github.com/codeint/codeint/controlplane/structs"
)

// TestExportFromTheLedger exports the ledger's closed hours to a real
// S3-protocol server through the SDK with the cursor in Raft: a second
// exporter (a new leader's) carries on from the cursor the first saved and
// writes only the hour that closed since, and each team's hour is priced
// under its own plan.
func TestExportFromTheLedger(t *testing.T) {
	st := storetest.Open(t, store.Config{})
	ctx := context.Background()
	h10 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	apply := func(typ command.Type, req any) {
		t.Helper()
		if _, err := st.Apply(ctx, typ, req); err != nil {
			t.Fatal(err)
		}
	}
	for _, team := range []string{"t1", "t2"} {
		apply(command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: team, Name: team}})
	}
	double := billing.DefaultPlan()
	double.ID, double.VCPUSecondNanos, double.GiBSecondNanos = "double", 28_000, 9_000
	apply(command.AccountUpdate, command.AccountUpdateRequest{TeamID: "t2", Change: billing.AccountChange{Plan: &double}, At: h10})
	// One minute of 1 vCPU and 1 GiB for each team in hours 10, 11 and 12.
	var recs []structs.UsageRecord
	for _, team := range []string{"t1", "t2"} {
		for h := range 3 {
			start := h10.Add(time.Duration(h)*time.Hour + 10*time.Minute)
			recs = append(recs, structs.UsageRecord{NodeID: "n1", Seq: uint64(len(recs) + 1), SandboxID: "sb_" + team + string(rune('a'+h)),
				TeamID: team, Start: start, End: start.Add(time.Minute), VCPUs: 1, MemoryMB: 1024, Final: true})
		}
	}
	apply(command.UsageIngest, command.UsageIngestRequest{NodeID: "n1", Records: recs, At: h10.Add(3 * time.Hour)})

	svc := New(st.State(), "", billing.DefaultPlan(), nil)
	srv := s3test.New(t, "usage")
	exporter := func(now time.Time) *export.S3Exporter {
		return &export.S3Exporter{Client: srv.Client, Bucket: "usage", Prefix: "p", Source: svc,
			Cursor: ExportCursor{Name: "s3", State: st.State(), Store: st}, Now: func() time.Time { return now }}
	}
	// The first leader, at 12:30: hours 10 and 11 are closed.
	stats, err := exporter(h10.Add(150*time.Minute)).ExportOnce(ctx, h10.Add(150*time.Minute))
	if err != nil || stats.Hours != 2 || srv.Puts() != 4 {
		t.Fatalf("first pass: %+v, %v, %d puts", stats, err, srv.Puts())
	}
	if c := st.State().Snapshot().ExportCursor("s3"); c == nil || !c.Hour.Equal(h10.Add(time.Hour)) {
		t.Fatalf("cursor in Raft after the first pass: %+v", c)
	}
	// A new leader's exporter, at 13:05, writes hour 12 only.
	stats, err = exporter(h10.Add(185*time.Minute)).ExportOnce(ctx, h10.Add(185*time.Minute))
	if err != nil || stats.Hours != 1 || srv.Puts() != 6 {
		t.Fatalf("the new leader's pass: %+v, %v, %d puts (hours 10 and 11 must not be written again)", stats, err, srv.Puts())
	}
	costOf := func(team string) int64 {
		out, err := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("usage"), Key: aws.String(export.ObjectKey("p", team, h10))})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		var b export.Bucket
		if err := json.NewDecoder(out.Body).Decode(&b); err != nil {
			t.Fatal(err)
		}
		if b.Sandboxes != 1 || b.VCPUSeconds != 60 {
			t.Fatalf("team %s hour 10: %+v", team, b)
		}
		return b.CostMicros
	}
	// 60 vCPU-s × 14000 + 60 GiB-s × 4500 nanos = 1110 micros; t2 pays double.
	if c1, c2 := costOf("t1"), costOf("t2"); c1 != 1110 || c2 != 2220 {
		t.Fatalf("hour 10 costs %d and %d micros, want 1110 and 2220", c1, c2)
	}
}

// TestStripeExportFromTheLedger sends the ledger's closed hours to a
// Stripe double (the documented POST /v1/billing/meter_events, form
// encoded): only teams with a Stripe customer, one event per meter and
// hour, with its own cursor in Raft apart from the S3 exporter's.
func TestStripeExportFromTheLedger(t *testing.T) {
	st := storetest.Open(t, store.Config{})
	ctx := context.Background()
	h10 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, team := range []string{"t1", "t2"} {
		if _, err := st.Apply(ctx, command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: team, Name: team}}); err != nil {
			t.Fatal(err)
		}
	}
	cus := "cus_T1"
	if _, err := st.Apply(ctx, command.AccountUpdate, command.AccountUpdateRequest{TeamID: "t1", Change: billing.AccountChange{StripeCustomer: &cus}, At: h10}); err != nil {
		t.Fatal(err)
	}
	var recs []structs.UsageRecord
	for _, team := range []string{"t1", "t2"} {
		start := h10.Add(10 * time.Minute)
		recs = append(recs, structs.UsageRecord{NodeID: "n1", Seq: uint64(len(recs) + 1), SandboxID: "sb_" + team, TeamID: team,
			Start: start, End: start.Add(time.Minute), VCPUs: 2, MemoryMB: 1024, Final: true})
	}
	if _, err := st.Apply(ctx, command.UsageIngest, command.UsageIngestRequest{NodeID: "n1", Records: recs, At: h10.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []url.Values
	stripe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/billing/meter_events" || r.Header.Get("Authorization") != "Bearer sk_test_x" {
			http.Error(w, `{"error":{"type":"invalid_request_error","message":"unexpected request"}}`, http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		events = append(events, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"billing.meter_event","event_name":%q,"identifier":%q}`, r.PostForm.Get("event_name"), r.PostForm.Get("identifier"))
	}))
	defer stripe.Close()

	svc := New(st.State(), "", billing.DefaultPlan(), nil)
	now := h10.Add(90 * time.Minute)
	exp := &export.StripeExporter{Sender: &export.StripeClient{SecretKey: "sk_test_x", BaseURL: stripe.URL}, Customer: svc.StripeCustomer,
		Source: svc, Cursor: ExportCursor{Name: "stripe", State: st.State(), Store: st}, Now: func() time.Time { return now }}
	stats, err := exp.ExportOnce(ctx, now)
	if err != nil || stats.Hours != 1 {
		t.Fatalf("export: %+v, %v", stats, err)
	}
	got := map[string]string{}
	for _, ev := range events {
		if ev.Get("payload[stripe_customer_id]") != "cus_T1" {
			t.Fatalf("an event for a team without a Stripe customer: %v", ev)
		}
		got[ev.Get("event_name")] = ev.Get("payload[value]")
	}
	// 60 s of 2 vCPUs and 1 GiB.
	if len(events) != 2 || got["vcpu_seconds"] != "120" || got["gib_seconds"] != "60" {
		t.Fatalf("events %v", events)
	}
	snap := st.State().Snapshot()
	if c := snap.ExportCursor("stripe"); c == nil || !c.Hour.Equal(h10) || snap.ExportCursor("s3") != nil {
		t.Fatalf("cursors: stripe %+v, s3 %+v", c, snap.ExportCursor("s3"))
	}
}
