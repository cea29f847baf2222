package export

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ContentType is the content type of the objects written: JSON Lines.
const ContentType = "application/x-ndjson"

// DefaultConcurrency is how many objects of one hour S3Exporter puts at
// once when it is given no Concurrency.
const DefaultConcurrency = 4

// PutObjectAPI is the part of *s3.Client that S3Exporter uses.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ PutObjectAPI = (*s3.Client)(nil)

// S3Exporter writes each closed hour to S3, one JSON Lines object per team
// at ObjectKey(Prefix, team, hour). Client, Bucket, Source and Cursor are
// required; the rest have defaults. Do not copy an S3Exporter after first
// use.
type S3Exporter struct {
	Client PutObjectAPI
	Bucket string
	// Prefix goes before every key ("" for none; a trailing "/" is ignored).
	Prefix string

	Source Source
	Cursor Cursor
	// Grace is how long after its end an hour is taken as closed;
	// DefaultGrace when zero.
	Grace time.Duration
	// Since, when set, is the first hour to export: hours starting before
	// it are skipped even when the cursor is behind (e.g. never saved).
	Since time.Time
	// Concurrency bounds the puts of one hour running at once;
	// DefaultConcurrency when zero.
	Concurrency int
	// Now is the clock of Run; time.Now when nil.
	Now func() time.Time
	// Logger receives what Run does; discarded when nil.
	Logger *slog.Logger

	mu sync.Mutex // one pass at a time
}

// ExportOnce exports every hour closed at now (minus Grace) and after the
// cursor, in order, one object per team, and saves the cursor after each
// hour whose objects are all written. On error the cursor stays before the
// hour that failed, and the next call writes that hour again in full, to
// the same keys with the same bytes.
func (e *S3Exporter) ExportOnce(ctx context.Context, now time.Time) (Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Client == nil || e.Bucket == "" {
		return Stats{}, fmt.Errorf("export: S3Exporter needs a Client and a Bucket")
	}
	s := schedule{source: e.Source, cursor: e.Cursor, grace: e.Grace, since: e.Since}
	return s.exportOnce(ctx, now, e.writeHour)
}

// Run calls ExportOnce at once and then every interval (DefaultInterval
// when zero) until ctx ends, logging failures: a failed hour is retried on
// the next tick. Call it on the leader only, for as long as it leads.
func (e *S3Exporter) Run(ctx context.Context, interval time.Duration) {
	run(ctx, interval, e.Now, e.Logger, "s3", e.ExportOnce)
}

// writeHour puts one object per team of one hour, Concurrency at a time.
// The first failure stops the puts not yet started and is the error.
func (e *S3Exporter) writeHour(ctx context.Context, hour time.Time, buckets []Bucket) (int, error) {
	limit := e.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written int
		sem     = make(chan struct{}, limit)
	)
	for _, team := range byTeam(buckets) {
		body, err := EncodeLines(team)
		if err != nil {
			cancel(err)
			break
		}
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := e.put(ctx, ObjectKey(e.Prefix, team[0].TeamID, hour), body); err != nil {
				cancel(err) // only the first cause is kept
				return
			}
			mu.Lock()
			written++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return written, context.Cause(ctx)
}

func (e *S3Exporter) put(ctx context.Context, key string, body []byte) error {
	sum := md5.Sum(body)
	_, err := e.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(e.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(ContentType),
		ContentMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", e.Bucket, key, err)
	}
	return nil
}

// ObjectKey is the key of the object of one team and one hour:
//
//	PREFIX/date=YYYY-MM-DD/team=TEAM/hour=HH.jsonl
//
// with the date and hour in UTC and TEAM path-escaped (so a "/" in a team
// id cannot add a level). The same team and hour always give the same key.
func ObjectKey(prefix, teamID string, hour time.Time) string {
	h := hour.UTC()
	key := fmt.Sprintf("date=%s/team=%s/hour=%02d.jsonl", h.Format(time.DateOnly), url.PathEscape(teamID), h.Hour())
	if p := strings.TrimRight(prefix, "/"); p != "" {
		key = p + "/" + key
	}
	return key
}

// EncodeLines is the content of one object: each bucket as one line of
// JSON, ending in "\n", lines sorted by their bytes so that the content
// depends only on the set of buckets, not on the order a Source returned
// them in. Hours are written in UTC.
func EncodeLines(buckets []Bucket) ([]byte, error) {
	lines := make([][]byte, 0, len(buckets))
	for _, b := range buckets {
		b.Hour = b.Hour.UTC()
		line, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode bucket of team %s hour %s: %w", b.TeamID, b.Hour.Format(time.RFC3339), err)
		}
		lines = append(lines, line)
	}
	slices.SortFunc(lines, bytes.Compare)
	var buf bytes.Buffer
	for _, line := range lines {
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
