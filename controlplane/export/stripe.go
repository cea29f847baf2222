package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
)

// Meter is one Stripe meter fed from the buckets: EventName is the meter's
// event_name and Value the whole number to report for one team and hour
// (Stripe documents meter event values as whole numbers).
type Meter struct {
	EventName string
	Value     func(Bucket) int64
}

// DefaultMeters report allocated vCPU-seconds and GiB-seconds, rounded to
// the nearest second per team and hour.
func DefaultMeters() []Meter {
	return []Meter{
		{EventName: "vcpu_seconds", Value: func(b Bucket) int64 { return int64(math.Round(b.VCPUSeconds)) }},
		{EventName: "gib_seconds", Value: func(b Bucket) int64 { return int64(math.Round(b.GiBSeconds)) }},
	}
}

// MeterEvent is one Stripe billing meter event.
type MeterEvent struct {
	EventName  string
	CustomerID string // payload[stripe_customer_id]
	Value      int64  // payload[value]
	Identifier string // Stripe drops an event whose identifier it has seen
	Timestamp  time.Time
}

// MeterEventSender sends meter events; *StripeClient is the real one.
type MeterEventSender interface {
	SendMeterEvent(ctx context.Context, ev MeterEvent) error
}

// StripeExporter reports each closed hour to Stripe as one meter event per
// team, meter and hour, with the identifier MeterEventIdentifier(team,
// meter, hour) so that resending an hour (a retry, a new leader) does not
// count it twice. Sender, Customer, Source and Cursor are required. Do not
// copy a StripeExporter after first use.
type StripeExporter struct {
	Sender MeterEventSender
	// Customer maps a team to its Stripe customer id; "" (and no error)
	// means the team is not billed through Stripe and is skipped. An error
	// fails the hour, which is retried.
	Customer func(ctx context.Context, teamID string) (string, error)
	// Meters to report; DefaultMeters() when nil. Events of value 0 are not
	// sent.
	Meters []Meter

	Source Source
	Cursor Cursor
	// Grace is how long after its end an hour is taken as closed;
	// DefaultGrace when zero.
	Grace time.Duration
	// Since, when set, is the first hour to export: hours starting before
	// it are skipped even when the cursor is behind. Stripe refuses events
	// older than 35 days, so set it when starting on an old history.
	Since time.Time
	// Now is the clock of Run; time.Now when nil.
	Now func() time.Time
	// Logger receives what Run does; discarded when nil.
	Logger *slog.Logger

	mu sync.Mutex // one pass at a time
}

// ExportOnce sends the meter events of every hour closed at now (minus
// Grace) and after the cursor, in order, and saves the cursor after each
// hour whose events were all accepted. On error the cursor stays before the
// failed hour, whose events are all sent again, with the same identifiers,
// by the next call.
func (e *StripeExporter) ExportOnce(ctx context.Context, now time.Time) (Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Sender == nil || e.Customer == nil {
		return Stats{}, fmt.Errorf("export: StripeExporter needs a Sender and a Customer function")
	}
	s := schedule{source: e.Source, cursor: e.Cursor, grace: e.Grace, since: e.Since}
	return s.exportOnce(ctx, now, e.writeHour)
}

// Run calls ExportOnce at once and then every interval (DefaultInterval
// when zero) until ctx ends, logging failures: a failed hour is retried on
// the next tick. Call it on the leader only, for as long as it leads.
func (e *StripeExporter) Run(ctx context.Context, interval time.Duration) {
	run(ctx, interval, e.Now, e.Logger, "stripe", e.ExportOnce)
}

// writeHour sends the events of one hour, one at a time (Stripe allows one
// concurrent call per customer and meter), teams in order.
func (e *StripeExporter) writeHour(ctx context.Context, hour time.Time, buckets []Bucket) (int, error) {
	meters := e.Meters
	if meters == nil {
		meters = DefaultMeters()
	}
	sent := 0
	for _, team := range byTeam(buckets) {
		teamID := team[0].TeamID
		customer, err := e.Customer(ctx, teamID)
		if err != nil {
			return sent, fmt.Errorf("stripe customer of team %s: %w", teamID, err)
		}
		if customer == "" {
			continue
		}
		for _, m := range meters {
			var value int64
			for _, b := range team {
				value += m.Value(b)
			}
			if value == 0 {
				continue
			}
			ev := MeterEvent{
				EventName:  m.EventName,
				CustomerID: customer,
				Value:      value,
				Identifier: MeterEventIdentifier(teamID, m.EventName, hour),
				Timestamp:  hour,
			}
			if err := e.Sender.SendMeterEvent(ctx, ev); err != nil {
				return sent, fmt.Errorf("meter event %s of team %s (identifier %s): %w", m.EventName, teamID, ev.Identifier, err)
			}
			sent++
		}
	}
	return sent, nil
}

// MeterEventIdentifier is the identifier of the event of one team, meter
// and hour: the hex SHA-256 of
//
//	"codeint-usage-v1" NUL len(team) ":" team NUL len(meter) ":" meter NUL hour
//
// with lengths in decimal and hour in RFC 3339 UTC (e.g.
// "2026-01-02T10:00:00Z"). The lengths keep distinct triples distinct
// whatever bytes the ids hold. 64 characters, under Stripe's 100.
func MeterEventIdentifier(teamID, meter string, hour time.Time) string {
	h := sha256.New()
	h.Write([]byte("codeint-usage-v1\x00"))
	h.Write([]byte(strconv.Itoa(len(teamID)) + ":" + teamID + "\x00"))
	h.Write([]byte(strconv.Itoa(len(meter)) + ":" + meter + "\x00"))
	h.Write([]byte(hour.UTC().Format(time.RFC3339)))
	return hex.EncodeToString(h.Sum(nil))
}
