package export

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// DefaultGrace is how long after an hour ends the exporters wait before
// they take it as closed, so that records reported late still land in it.
const DefaultGrace = 2 * time.Minute

// DefaultInterval is the period of Run when it is given none.
const DefaultInterval = time.Minute

// Bucket is the usage of one team in one hour. Its JSON form is the line
// written to S3 (see doc.go).
type Bucket struct {
	TeamID string `json:"teamId"`
	// Hour is the start of the hour, in UTC, truncated to the hour.
	Hour time.Time `json:"hour"`
	// Sandbox-seconds of running sandboxes, allocated vCPU-seconds and
	// GiB-seconds of allocated memory, and the CPU-seconds measured.
	SandboxSeconds float64 `json:"sandboxSeconds"`
	VCPUSeconds    float64 `json:"vcpuSeconds"`
	GiBSeconds     float64 `json:"gibSeconds"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	// CostMicros is the priced usage, in millionths of the currency unit.
	CostMicros int64 `json:"costMicros"`
	// Sandboxes is how many distinct sandboxes ran in the hour.
	Sandboxes int `json:"sandboxes"`
}

// Source gives the usage to export.
type Source interface {
	// ClosedHours returns the buckets of every hour that starts strictly
	// after `after` and has ended by upTo (Hour+1h ≤ upTo), in any order.
	// upTo already has the grace period taken off. A zero `after` means
	// from the beginning. An hour without usage may have no bucket.
	ClosedHours(after, upTo time.Time) ([]Bucket, error)
}

// Cursor keeps the start of the last hour exported in full. In production
// it lives in the replicated state (a Raft command saves it) so that a new
// leader carries on where the old one stopped; it is read again on every
// pass, never cached.
type Cursor interface {
	// Load returns the cursor; the zero time if nothing was exported yet.
	Load() (time.Time, error)
	// Save stores hour as the last hour exported in full.
	Save(ctx context.Context, hour time.Time) error
}

// Stats tells what one ExportOnce did.
type Stats struct {
	// Hours is how many hours were exported in full (and the cursor moved
	// past them).
	Hours int
	// Writes counts the objects put (S3) or meter events sent (Stripe),
	// including those of an hour that then failed.
	Writes int
	// Cursor is the cursor after the pass.
	Cursor time.Time
}

// schedule is what both exporters share: where the buckets come from, where
// the cursor is kept and when an hour is closed.
type schedule struct {
	source Source
	cursor Cursor
	grace  time.Duration
	since  time.Time
}

// hourFunc writes every bucket of one hour, all of the same Hour. It
// returns how many writes it made, even when it fails.
type hourFunc func(ctx context.Context, hour time.Time, buckets []Bucket) (int, error)

// exportOnce exports, in order, each closed hour after the cursor and
// saves the cursor after each one. It stops at the first error: the hour
// that failed is redone in full by the next pass.
func (s schedule) exportOnce(ctx context.Context, now time.Time, write hourFunc) (Stats, error) {
	if s.source == nil || s.cursor == nil {
		return Stats{}, errors.New("export: Source and Cursor are required")
	}
	grace := s.grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	cur, err := s.cursor.Load()
	if err != nil {
		return Stats{}, fmt.Errorf("export: load cursor: %w", err)
	}
	cur = cur.UTC()
	st := Stats{Cursor: cur}
	after := cur
	if since := s.since.UTC(); !since.IsZero() && after.Before(since) {
		after = since.Add(-time.Nanosecond) // the hour starting at Since is included
	}
	upTo := now.UTC().Add(-grace)
	buckets, err := s.source.ClosedHours(after, upTo)
	if err != nil {
		return st, fmt.Errorf("export: read closed hours after %s: %w", after.Format(time.RFC3339), err)
	}
	hours, err := byHour(buckets, after, upTo)
	if err != nil {
		return st, err
	}
	for _, h := range hours {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n, err := write(ctx, h.hour, h.buckets)
		st.Writes += n
		if err != nil {
			return st, fmt.Errorf("export: hour %s: %w", h.hour.Format(time.RFC3339), err)
		}
		if err := s.cursor.Save(ctx, h.hour); err != nil {
			return st, fmt.Errorf("export: save cursor %s: %w", h.hour.Format(time.RFC3339), err)
		}
		st.Hours++
		st.Cursor = h.hour
	}
	return st, nil
}

type hourBuckets struct {
	hour    time.Time
	buckets []Bucket
}

// byHour checks the buckets, keeps those of closed hours after `after`
// (a Source may return more than asked) and groups them by hour, hours in
// order and buckets of an hour by team.
func byHour(buckets []Bucket, after, upTo time.Time) ([]hourBuckets, error) {
	groups := map[time.Time][]Bucket{}
	for _, b := range buckets {
		if b.TeamID == "" {
			return nil, fmt.Errorf("export: bucket of hour %s has no team", b.Hour.Format(time.RFC3339))
		}
		h := b.Hour.UTC()
		if !h.Equal(h.Truncate(time.Hour)) {
			return nil, fmt.Errorf("export: bucket of team %s: hour %s is not truncated to the hour", b.TeamID, b.Hour.Format(time.RFC3339Nano))
		}
		if !h.After(after) || h.Add(time.Hour).After(upTo) {
			continue
		}
		b.Hour = h
		groups[h] = append(groups[h], b)
	}
	out := make([]hourBuckets, 0, len(groups))
	for h, bs := range groups {
		slices.SortStableFunc(bs, func(a, b Bucket) int { return cmp.Compare(a.TeamID, b.TeamID) })
		out = append(out, hourBuckets{hour: h, buckets: bs})
	}
	slices.SortFunc(out, func(a, b hourBuckets) int { return a.hour.Compare(b.hour) })
	return out, nil
}

// byTeam splits the buckets of one hour, sorted by team, into runs of one
// team each.
func byTeam(buckets []Bucket) [][]Bucket {
	var out [][]Bucket
	for i := 0; i < len(buckets); {
		j := i + 1
		for j < len(buckets) && buckets[j].TeamID == buckets[i].TeamID {
			j++
		}
		out = append(out, buckets[i:j])
		i = j
	}
	return out
}

// run calls once at start and then every interval until ctx ends, logging
// what each pass did.
func run(ctx context.Context, interval time.Duration, now func() time.Time, log *slog.Logger, name string,
	once func(context.Context, time.Time) (Stats, error)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		st, err := once(ctx, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("usage export failed; the hour is retried", "exporter", name, "err", err,
				"hours", st.Hours, "writes", st.Writes, "cursor", st.Cursor)
		case st.Hours > 0:
			log.Info("usage exported", "exporter", name, "hours", st.Hours, "writes", st.Writes, "cursor", st.Cursor)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
