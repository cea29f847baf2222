// Package export sends hourly usage out of the control plane: to S3 as
// JSON Lines files (S3Exporter) and, optionally, to Stripe as billing meter
// events (StripeExporter). It knows nothing of the store: usage comes from
// a Source, progress is kept by a Cursor, and the wiring (a Source over the
// replicated usage records, a Cursor saved by a Raft command, starting Run
// on the leader) lives with the server.
//
// # The pieces
//
//   - Bucket is the usage of one team in one hour (UTC, truncated): seconds
//     of sandboxes, vCPUs, GiB of memory and CPU, the cost in micros and
//     the number of sandboxes. The store has no such type; this package
//     defines it and the Source builds it from structs.UsageRecord.
//   - Source.ClosedHours(after, upTo) returns the buckets of the hours that
//     start strictly after the cursor and have ended by upTo. The exporters
//     pass upTo = now − Grace (DefaultGrace, 2 minutes), so that records an
//     agent reports a little late still land in their hour before it is
//     exported. An hour with no usage may simply have no bucket; it is then
//     neither written nor waited for.
//   - Cursor is the start of the last hour exported in full. Load is called
//     at the start of every pass (never cached), so when leadership moves
//     the new leader's exporter starts from the cursor the old one saved.
//     Each exporter needs its own cursor (S3 and Stripe progress apart).
//
// # One pass
//
// ExportOnce(ctx, now) loads the cursor, asks the Source for the closed
// hours after it, and for each hour in order writes everything of that hour
// and then saves the cursor to that hour. It stops at the first error,
// leaving the cursor before the failed hour. Run calls it at once and then
// every interval on the leader, logging failures; the next tick retries.
//
// Writes are therefore at least once: a crash, a failed put or a failed
// cursor save makes the next pass (on this server or a new leader) write
// the whole hour again. What makes that harmless is that every write is
// idempotent:
//
//   - S3: the key depends only on team and hour, and the content only on
//     the buckets, so redoing an hour overwrites each object with the same
//     bytes. The result is exactly one object per (hour, team).
//   - Stripe: each event carries identifier MeterEventIdentifier(team,
//     meter, hour) and Stripe drops an event whose identifier it has seen
//     (Stripe documents that window as at least 24 hours, which covers the
//     retries of a pass; it does not cover re-exporting old hours by moving
//     the cursor back by more than a day).
//
// The same bytes on a redo assume the Source returns the same buckets for a
// closed hour, which is what the grace period is for; a record that arrives
// after its hour was exported is not exported by this package.
//
// # S3 layout and format
//
// One object per team and hour:
//
//	PREFIX/date=YYYY-MM-DD/team=TEAM/hour=HH.jsonl
//
// (UTC date and hour; TEAM path-escaped; Hive-style partitions that Athena,
// Spark or DuckDB read as columns date, team and hour). The content type is
// application/x-ndjson and each put carries a Content-MD5 that S3 checks.
// The content is JSON Lines, one line per bucket (one bucket per team and
// hour from a well-behaved Source, so usually one line), lines sorted:
//
//	{"teamId":"t-1","hour":"2026-03-04T10:00:00Z","sandboxSeconds":3600,"vcpuSeconds":7200,"gibSeconds":1800,"cpuSeconds":10.25,"costMicros":9000,"sandboxes":2}
//
// Rows are per team and hour, not per sandbox: per-sandbox detail stays in
// the control plane.
//
// # Stripe
//
// StripeExporter sends, for each hour, team and Meter, one event to
// POST /v1/billing/meter_events (StripeClient, form-encoded, Bearer secret
// key; no Stripe SDK) with event_name, payload[stripe_customer_id],
// payload[value] (a whole number: DefaultMeters round vcpu_seconds and
// gib_seconds to the nearest second per team and hour), identifier and
// timestamp (the start of the hour; Stripe accepts up to 35 days back, see
// Since). Customer maps a team to its Stripe customer id; teams without one
// are skipped, as are events of value 0. A non-2xx answer comes back as a
// *StripeError inside the returned error.
package export
