package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an in-memory S3 server and an SDK client of it.
type Server struct {
	Client *s3.Client

	mu   sync.Mutex
	puts []http.Header
}

// New starts a server with the bucket made; it stops with the test.
func New(t testing.TB, bucket string) *Server {
	t.Helper()
	srv := &Server{}
	h := gofakes3.New(s3mem.New()).Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 {
			srv.mu.Lock()
			srv.puts = append(srv.puts, r.Header.Clone())
			srv.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	srv.Client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:   ts.Client(),
	})
	if _, err := srv.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return srv
}

// Puts is how many objects were written so far.
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.puts)
}

// PutHeaders are the request headers of every object written.
func (s *Server) PutHeaders() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]http.Header, len(s.puts))
	copy(out, s.puts)
	return out
}
