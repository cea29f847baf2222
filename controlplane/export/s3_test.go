package export

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/codeint/codeint/controlplane/export/s3test"
)

const testBucket = "usage-exports"

// fakeS3 is s3test's server with the bucket of these tests.
type fakeS3 struct{ *s3test.Server }

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	return &fakeS3{s3test.New(t, testBucket)}
}

// objects returns every object of the bucket, key → content.
func (f *fakeS3) objects(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(f.Client, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			got, err := f.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", *o.Key, err)
			}
			body, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", *o.Key, err)
			}
			if ct := aws.ToString(got.ContentType); ct != ContentType {
				t.Errorf("%s: content type %q, want %q", *o.Key, ct, ContentType)
			}
			out[*o.Key] = string(body)
		}
	}
	return out
}

// failingPut wraps a client and fails the puts whose key contains substr,
// `times` times.
type failingPut struct {
	PutObjectAPI
	substr string
	mu     sync.Mutex
	times  int
}

func (f *failingPut) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.mu.Lock()
	fail := f.times > 0 && strings.Contains(aws.ToString(in.Key), f.substr)
	if fail {
		f.times--
	}
	f.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return f.PutObjectAPI.PutObject(ctx, in, opts...)
}

// twoTeamsTwoHours is the usage of teams t-alpha and t-beta in hours 10
// and 11, plus t-alpha in hour 12.
func twoTeamsTwoHours() []Bucket {
	return []Bucket{
		{TeamID: "t-beta", Hour: hour(10), SandboxSeconds: 1800, VCPUSeconds: 3600, GiBSeconds: 900, CPUSeconds: 1200.5, CostMicros: 4200, Sandboxes: 1},
		{TeamID: "t-alpha", Hour: hour(10), SandboxSeconds: 3600, VCPUSeconds: 7200, GiBSeconds: 1800, CPUSeconds: 10.25, CostMicros: 9000, Sandboxes: 2},
		{TeamID: "t-alpha", Hour: hour(11), SandboxSeconds: 60, VCPUSeconds: 120, GiBSeconds: 30, CPUSeconds: 1, CostMicros: 150, Sandboxes: 1},
		{TeamID: "t-beta", Hour: hour(11), SandboxSeconds: 7200, VCPUSeconds: 14400, GiBSeconds: 3600, CPUSeconds: 7000, CostMicros: 18000, Sandboxes: 3},
		{TeamID: "t-alpha", Hour: hour(12), SandboxSeconds: 5, VCPUSeconds: 5, GiBSeconds: 5, CPUSeconds: 5, CostMicros: 5, Sandboxes: 1},
	}
}

// The objects of hours 10 and 11, written out by hand to pin the format.
var wantHours10And11 = map[string]string{
	"exports/usage/date=2026-03-04/team=t-alpha/hour=10.jsonl": `{"teamId":"t-alpha","hour":"2026-03-04T10:00:00Z","sandboxSeconds":3600,"vcpuSeconds":7200,"gibSeconds":1800,"cpuSeconds":10.25,"costMicros":9000,"sandboxes":2}` + "\n",
	"exports/usage/date=2026-03-04/team=t-beta/hour=10.jsonl":  `{"teamId":"t-beta","hour":"2026-03-04T10:00:00Z","sandboxSeconds":1800,"vcpuSeconds":3600,"gibSeconds":900,"cpuSeconds":1200.5,"costMicros":4200,"sandboxes":1}` + "\n",
	"exports/usage/date=2026-03-04/team=t-alpha/hour=11.jsonl": `{"teamId":"t-alpha","hour":"2026-03-04T11:00:00Z","sandboxSeconds":60,"vcpuSeconds":120,"gibSeconds":30,"cpuSeconds":1,"costMicros":150,"sandboxes":1}` + "\n",
	"exports/usage/date=2026-03-04/team=t-beta/hour=11.jsonl":  `{"teamId":"t-beta","hour":"2026-03-04T11:00:00Z","sandboxSeconds":7200,"vcpuSeconds":14400,"gibSeconds":3600,"cpuSeconds":7000,"costMicros":18000,"sandboxes":3}` + "\n",
}

func TestS3ExportsClosedHoursOncePerTeam(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	cur := &memCursor{}
	e := &S3Exporter{Client: f.Client, Bucket: testBucket, Prefix: "exports/usage/", Source: src, Cursor: cur}

	// At 12:30, hours 10 and 11 are closed; hour 12 is open.
	now := hour(12).Add(30 * time.Minute)
	st, err := e.ExportOnce(ctx, now)
	if err != nil {
		t.Fatalf("ExportOnce: %v", err)
	}
	if want := (Stats{Hours: 2, Writes: 4, Cursor: hour(11)}); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if got := f.objects(t); !maps.Equal(got, wantHours10And11) {
		t.Fatalf("objects:\n%s\nwant:\n%s", dump(got), dump(wantHours10And11))
	}
	if !slices.Equal(cur.saves, []time.Time{hour(10), hour(11)}) {
		t.Fatalf("cursor saves %v, want hours 10 then 11", cur.saves)
	}
	if got, want := src.calls[0].upTo, now.Add(-DefaultGrace); !got.Equal(want) {
		t.Fatalf("source asked up to %v, want now - grace %v", got, want)
	}

	// Every PUT carried the content type and a Content-MD5 that the server
	// checked (gofakes3 verifies it).
	for _, h := range f.PutHeaders() {
		if h.Get("Content-Type") != ContentType || h.Get("Content-Md5") == "" {
			t.Fatalf("PUT headers: Content-Type %q, Content-MD5 %q", h.Get("Content-Type"), h.Get("Content-Md5"))
		}
	}

	// Again at the same time: nothing new, nothing rewritten.
	puts := f.Puts()
	st, err = e.ExportOnce(ctx, now)
	if err != nil || st != (Stats{Cursor: hour(11)}) {
		t.Fatalf("second ExportOnce: %+v, %v", st, err)
	}
	if f.Puts() != puts {
		t.Fatalf("second ExportOnce wrote %d objects", f.Puts()-puts)
	}
	if got := f.objects(t); !maps.Equal(got, wantHours10And11) {
		t.Fatalf("objects changed:\n%s", dump(got))
	}

	// Hour 12 ends at 13:00; within the grace it is still open.
	if st, err := e.ExportOnce(ctx, hour(13).Add(time.Minute)); err != nil || st.Hours != 0 {
		t.Fatalf("within grace: %+v, %v", st, err)
	}
	if st, err := e.ExportOnce(ctx, hour(13).Add(DefaultGrace)); err != nil || st != (Stats{Hours: 1, Writes: 1, Cursor: hour(12)}) {
		t.Fatalf("after grace: %+v, %v", st, err)
	}
	if got := len(f.objects(t)); got != 5 {
		t.Fatalf("%d objects, want 5", got)
	}
}

func TestS3RedoWritesSameKeysAndBytes(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	e := &S3Exporter{Client: f.Client, Bucket: testBucket, Prefix: "exports/usage", Source: src, Cursor: &memCursor{}}
	now := hour(12).Add(30 * time.Minute)
	if _, err := e.ExportOnce(ctx, now); err != nil {
		t.Fatal(err)
	}
	first := f.objects(t)

	// Another exporter redoes everything from a lost cursor, its source
	// returning the buckets in another order: same keys, same bytes.
	rev := twoTeamsTwoHours()
	slices.Reverse(rev)
	src2 := &memSource{}
	src2.add(rev...)
	e2 := &S3Exporter{Client: f.Client, Bucket: testBucket, Prefix: "exports/usage", Source: src2, Cursor: &memCursor{}, Concurrency: 1}
	st, err := e2.ExportOnce(ctx, now)
	if err != nil || st.Writes != 4 {
		t.Fatalf("redo: %+v, %v", st, err)
	}
	if got := f.objects(t); !maps.Equal(got, first) || !maps.Equal(got, wantHours10And11) {
		t.Fatalf("redo changed objects:\n%s", dump(got))
	}
}

func TestS3FailureMidHourRedoesTheHour(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	cur := &memCursor{}
	// The second team's object of hour 11 fails once.
	client := &failingPut{PutObjectAPI: f.Client, substr: "team=t-beta/hour=11", times: 1}
	e := &S3Exporter{Client: client, Bucket: testBucket, Prefix: "exports/usage", Source: src, Cursor: cur, Concurrency: 1}
	now := hour(12).Add(30 * time.Minute)

	st, err := e.ExportOnce(ctx, now)
	if !errors.Is(err, errInjected) {
		t.Fatalf("ExportOnce error %v, want the injected failure", err)
	}
	if !strings.Contains(err.Error(), "team=t-beta/hour=11.jsonl") {
		t.Errorf("error does not name the object: %v", err)
	}
	if st.Hours != 1 || st.Writes != 3 || !cur.get().Equal(hour(10)) {
		t.Fatalf("after failure: stats %+v, cursor %v; want hour 10 done, cursor at 10", st, cur.get())
	}
	objs := f.objects(t)
	if _, ok := objs["exports/usage/date=2026-03-04/team=t-alpha/hour=11.jsonl"]; !ok {
		t.Fatalf("first team of hour 11 not written: %v", keys(objs))
	}
	if _, ok := objs["exports/usage/date=2026-03-04/team=t-beta/hour=11.jsonl"]; ok {
		t.Fatalf("failed object exists")
	}

	// The retry writes hour 11 again in full, and only hour 11.
	puts := f.Puts()
	st, err = e.ExportOnce(ctx, now)
	if err != nil || st != (Stats{Hours: 1, Writes: 2, Cursor: hour(11)}) {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	if f.Puts()-puts != 2 {
		t.Fatalf("retry made %d puts, want 2", f.Puts()-puts)
	}
	if got := f.objects(t); !maps.Equal(got, wantHours10And11) {
		t.Fatalf("after retry:\n%s", dump(got))
	}
}

func TestS3FailureWithConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	var bs []Bucket
	for _, team := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		bs = append(bs, Bucket{TeamID: team, Hour: hour(10), SandboxSeconds: 1}, Bucket{TeamID: team, Hour: hour(11), SandboxSeconds: 2})
	}
	src.add(bs...)
	cur := &memCursor{}
	client := &failingPut{PutObjectAPI: f.Client, substr: "team=e/hour=11", times: 1}
	e := &S3Exporter{Client: client, Bucket: testBucket, Source: src, Cursor: cur} // default concurrency
	now := hour(12).Add(30 * time.Minute)
	if _, err := e.ExportOnce(ctx, now); !errors.Is(err, errInjected) {
		t.Fatalf("error %v, want injected", err)
	}
	if !cur.get().Equal(hour(10)) {
		t.Fatalf("cursor %v, want hour 10", cur.get())
	}
	if st, err := e.ExportOnce(ctx, now); err != nil || st != (Stats{Hours: 1, Writes: 10, Cursor: hour(11)}) {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	if n := len(f.objects(t)); n != 20 {
		t.Fatalf("%d objects, want 20", n)
	}
}

func TestS3NewLeaderCarriesOn(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	raft := &memCursor{} // the replicated cursor both leaders see
	old := &S3Exporter{Client: f.Client, Bucket: testBucket, Prefix: "exports/usage", Source: src, Cursor: raft}
	if _, err := old.ExportOnce(ctx, hour(12).Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	puts := f.Puts()

	// A new leader, with its own client and exporter, and one more hour of
	// usage from t-beta.
	src.add(Bucket{TeamID: "t-beta", Hour: hour(12), SandboxSeconds: 10, Sandboxes: 1})
	f2 := &S3Exporter{Client: s3.New(f.Client.Options()), Bucket: testBucket, Prefix: "exports/usage", Source: src, Cursor: raft}
	st, err := f2.ExportOnce(ctx, hour(13).Add(10*time.Minute))
	if err != nil || st != (Stats{Hours: 1, Writes: 2, Cursor: hour(12)}) {
		t.Fatalf("new leader: %+v, %v", st, err)
	}
	if f.Puts()-puts != 2 {
		t.Fatalf("new leader made %d puts, want the 2 of hour 12", f.Puts()-puts)
	}
	objs := f.objects(t)
	if len(objs) != 6 {
		t.Fatalf("objects %v", keys(objs))
	}
	if got := objs["exports/usage/date=2026-03-04/team=t-beta/hour=12.jsonl"]; got != `{"teamId":"t-beta","hour":"2026-03-04T12:00:00Z","sandboxSeconds":10,"vcpuSeconds":0,"gibSeconds":0,"cpuSeconds":0,"costMicros":0,"sandboxes":1}`+"\n" {
		t.Fatalf("hour 12 of t-beta: %q", got)
	}
}

func TestS3CursorSaveFailureRedoesHour(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	cur := &memCursor{fail: errInjected}
	e := &S3Exporter{Client: f.Client, Bucket: testBucket, Prefix: "exports/usage", Source: src, Cursor: cur}
	now := hour(12).Add(30 * time.Minute)
	if _, err := e.ExportOnce(ctx, now); !errors.Is(err, errInjected) {
		t.Fatalf("error %v, want injected", err)
	}
	if !cur.get().IsZero() {
		t.Fatal("cursor moved")
	}
	cur.fail = nil
	if st, err := e.ExportOnce(ctx, now); err != nil || st != (Stats{Hours: 2, Writes: 4, Cursor: hour(11)}) {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	if got := f.objects(t); !maps.Equal(got, wantHours10And11) {
		t.Fatalf("objects:\n%s", dump(got))
	}
}

func TestS3Since(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	e := &S3Exporter{Client: f.Client, Bucket: testBucket, Source: src, Cursor: &memCursor{}, Since: hour(11)}
	st, err := e.ExportOnce(ctx, hour(12).Add(30*time.Minute))
	if err != nil || st != (Stats{Hours: 1, Writes: 2, Cursor: hour(11)}) {
		t.Fatalf("%+v, %v", st, err)
	}
}

func TestS3RejectsBadBuckets(t *testing.T) {
	ctx := context.Background()
	for name, b := range map[string]Bucket{
		"untruncated hour": {TeamID: "t", Hour: hour(10).Add(time.Minute)},
		"no team":          {Hour: hour(10)},
	} {
		t.Run(name, func(t *testing.T) {
			src := &memSource{}
			src.add(Bucket{TeamID: "ok", Hour: hour(9)}, b)
			cur := &memCursor{}
			put := &failingPut{PutObjectAPI: nil, substr: "", times: 1 << 30} // any put fails the test
			e := &S3Exporter{Client: put, Bucket: testBucket, Source: src, Cursor: cur}
			if _, err := e.ExportOnce(ctx, hour(12)); err == nil {
				t.Fatal("no error")
			}
			if !cur.get().IsZero() {
				t.Fatal("cursor moved")
			}
		})
	}
}

func TestObjectKey(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		prefix, team string
		hour         time.Time
		want         string
	}{
		{"", "team1", hour(7), "date=2026-03-04/team=team1/hour=07.jsonl"},
		{"a/b/", "team1", hour(23), "a/b/date=2026-03-04/team=team1/hour=23.jsonl"},
		{"a", "x/y z", hour(0), "a/date=2026-03-04/team=x%2Fy%20z/hour=00.jsonl"},
		// 00:30 in UTC+1 is 23:30 the day before in UTC.
		{"p", "t", time.Date(2026, 3, 5, 0, 0, 0, 0, paris), "p/date=2026-03-04/team=t/hour=23.jsonl"},
	} {
		if got := ObjectKey(tc.prefix, tc.team, tc.hour); got != tc.want {
			t.Errorf("ObjectKey(%q, %q, %v) = %q, want %q", tc.prefix, tc.team, tc.hour, got, tc.want)
		}
	}
}

func TestPutSendsContentMD5(t *testing.T) {
	// The exporter's own MD5 matches its body (the server rejects a wrong one).
	body, err := EncodeLines([]Bucket{{TeamID: "t", Hour: hour(1)}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordPut{}
	e := &S3Exporter{Client: rec, Bucket: "b"}
	if err := e.put(context.Background(), "k", body); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	if got := aws.ToString(rec.in.ContentMD5); got != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("Content-MD5 %q", got)
	}
	got, _ := io.ReadAll(rec.in.Body)
	if !bytes.Equal(got, body) || aws.ToInt64(rec.in.ContentLength) != int64(len(body)) {
		t.Fatalf("body %q length %d", got, aws.ToInt64(rec.in.ContentLength))
	}
}

type recordPut struct{ in *s3.PutObjectInput }

func (r *recordPut) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.in = in
	return &s3.PutObjectOutput{}, nil
}

func TestS3RunExportsUntilCancelled(t *testing.T) {
	f := newFakeS3(t)
	src := &memSource{}
	src.add(twoTeamsTwoHours()...)
	cur := &memCursor{}
	e := &S3Exporter{Client: f.Client, Bucket: testBucket, Prefix: "exports/usage", Source: src, Cursor: cur,
		Now: func() time.Time { return hour(12).Add(30 * time.Minute) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cur.get().Equal(hour(11)) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not export hours 10 and 11")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := f.objects(t); !maps.Equal(got, wantHours10And11) {
		t.Fatalf("objects:\n%s", dump(got))
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func dump(m map[string]string) string {
	var b strings.Builder
	for _, k := range keys(m) {
		b.WriteString(k + ": " + m[k])
	}
	return b.String()
}

// The fake server really checks Content-MD5, so the puts above that it
// accepted carried a right one.
func TestFakeS3ChecksContentMD5(t *testing.T) {
	f := newFakeS3(t)
	_, err := f.Client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket:     aws.String(testBucket),
		Key:        aws.String("x/y"),
		Body:       strings.NewReader("abc"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(make([]byte, md5.Size))),
	})
	if err == nil || !strings.Contains(err.Error(), "BadDigest") {
		t.Fatalf("wrong Content-MD5 accepted: %v", err)
	}
}
