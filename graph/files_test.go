package graph_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/graph"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// memFiles is a FilesAPI over a map, for one team's sandbox "sb_1".
type memFiles struct {
	sandboxes.FilesAPI // the operations a test does not use panic
	mu                 sync.Mutex
	files              map[string][]byte
}

func (m *memFiles) check(teamID, sandboxID, path string) error {
	if teamID != teamA || sandboxID != "sb_1" {
		return apperr.New(apperr.NotFound, "sandbox %q not found", sandboxID)
	}
	if strings.Contains(path, "..") {
		return apperr.New(apperr.InvalidArgument, "path %q has a .. element", path)
	}
	return nil
}

func (m *memFiles) WriteFile(_ context.Context, teamID, sandboxID, path string, content io.Reader) (*sandboxes.FileInfo, error) {
	if err := m.check(teamID, sandboxID, path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(content)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.files[path] = data
	m.mu.Unlock()
	sum := sha256.Sum256(data)
	return &sandboxes.FileInfo{Name: path, Path: path, Type: "FILE", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

func (m *memFiles) OpenFile(_ context.Context, teamID, sandboxID, path string) (sandboxes.FileStream, error) {
	if err := m.check(teamID, sandboxID, path); err != nil {
		return nil, err
	}
	m.mu.Lock()
	data, ok := m.files[path]
	m.mu.Unlock()
	if !ok {
		return nil, apperr.New(apperr.NotFound, "%s: no such file", path)
	}
	return &memStream{Reader: bytes.NewReader(data), data: data, path: path}, nil
}

type memStream struct {
	*bytes.Reader
	data []byte
	path string
}

func (s *memStream) Close() error { return nil }
func (s *memStream) Info() sandboxes.FileInfo {
	return sandboxes.FileInfo{Path: s.path, Type: "FILE", Size: int64(len(s.data))}
}
func (s *memStream) SHA256() string {
	sum := sha256.Sum256(s.data)
	return hex.EncodeToString(sum[:])
}

func TestFilesOverHTTP(t *testing.T) {
	files := &memFiles{files: map[string][]byte{}}
	s := mustNewServer(t, &fakeSandboxes{}, func(c *graph.Config) { c.Files = files })
	ctx := context.Background()
	data := bytes.Repeat([]byte{0, 1, 2, 3, 255}, 300_000)

	fi, err := s.client.Upload(ctx, "sb_1", "/home/user/x.bin", bytes.NewReader(data))
	if err != nil || fi.Size != int64(len(data)) || fi.Path != "/home/user/x.bin" {
		t.Fatalf("upload: %+v %v", fi, err)
	}
	var back bytes.Buffer
	n, sum, err := s.client.Download(ctx, "sb_1", "/home/user/x.bin", &back)
	if err != nil || n != int64(len(data)) || !bytes.Equal(back.Bytes(), data) || sum != fi.SHA256 {
		t.Fatalf("download: %d bytes, sha256 %s (upload said %s): %v", n, sum, fi.SHA256, err)
	}

	up, err := s.client.UploadMultipart(ctx, "sb_1", "/home/user/m.txt", []byte("multi"))
	if err != nil || up.Size != 5 || string(files.files["/home/user/m.txt"]) != "multi" {
		t.Fatalf("uploadFile: %+v %v", up, err)
	}
	got, err := s.client.ReadFile(ctx, "sb_1", "/home/user/m.txt")
	if err != nil || string(got) != "multi" {
		t.Fatalf("readFile: %q %v", got, err)
	}

	for _, tc := range []struct {
		name, method, url, key string
		status                 int
		code                   string
	}{
		{"no key", http.MethodGet, "/files/sb_1?path=/home/user/x.bin", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"no path", http.MethodGet, "/files/sb_1", goodKey, http.StatusBadRequest, "INVALID_ARGUMENT"},
		{"another team's sandbox", http.MethodGet, "/files/sb_other?path=x", goodKey, http.StatusNotFound, "NOT_FOUND"},
		{"traversal", http.MethodPut, "/files/sb_1?path=../etc/passwd", goodKey, http.StatusBadRequest, "INVALID_ARGUMENT"},
		{"missing file", http.MethodGet, "/files/sb_1?path=/nope", goodKey, http.StatusNotFound, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.url, strings.NewReader("body"))
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Fatalf("status %d body %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}

	t.Run("not configured", func(t *testing.T) {
		bare := mustNewServer(t, &fakeSandboxes{})
		_, err := bare.client.Upload(ctx, "sb_1", "x", strings.NewReader("x"))
		if codeint.CodeOf(err) != codeint.CodeUnavailable {
			t.Fatalf("upload without a files service: %v", err)
		}
	})
}
