package codeint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// File types of FileInfo.Type.
const (
	FileTypeFile    = "FILE"
	FileTypeDir     = "DIR"
	FileTypeSymlink = "SYMLINK"
)

// FileInfo describes a file in a sandbox.
type FileInfo struct {
	Name       string    `json:"name"`
	Path       string    `json:"path"`
	Type       string    `json:"type"`
	Size       int64     `json:"size"`
	Mode       int       `json:"mode"`
	ModifiedAt time.Time `json:"modifiedAt"`
	SHA256     string    `json:"sha256"`
	LinkTarget string    `json:"linkTarget"`
}

// FileEvent is a change under a watched directory.
type FileEvent struct {
	Type  string    `json:"type"` // CREATE, WRITE, REMOVE, RENAME or CHMOD
	Path  string    `json:"path"`
	IsDir bool      `json:"isDir"`
	At    time.Time `json:"at"`
}

const fileFields = `name path type size mode modifiedAt sha256 linkTarget`

// WriteFile writes data to path in a sandbox (through GraphQL, base64;
// at most 16 MiB: use Upload for more).
func (c *Client) WriteFile(ctx context.Context, sandboxID, path string, data []byte) (*FileInfo, error) {
	var out struct {
		File FileInfo `json:"writeFile"`
	}
	q := `mutation ($id: ID!, $p: String!, $c: String!) { writeFile(sandboxId: $id, path: $p, content: $c, encoding: BASE64) { ` + fileFields + ` } }`
	err := c.Do(ctx, q, map[string]any{"id": sandboxID, "p": path, "c": base64.StdEncoding.EncodeToString(data)}, &out)
	if err != nil {
		return nil, err
	}
	return &out.File, nil
}

// ReadFile reads a file of at most 16 MiB (through GraphQL; use Download
// for more).
func (c *Client) ReadFile(ctx context.Context, sandboxID, path string) ([]byte, error) {
	var out struct {
		Content string `json:"readFile"`
	}
	err := c.Do(ctx, `query ($id: ID!, $p: String!) { readFile(sandboxId: $id, path: $p, encoding: BASE64) }`,
		map[string]any{"id": sandboxID, "p": path}, &out)
	if err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(out.Content)
	if err != nil {
		return nil, fmt.Errorf("codeint: decode file content: %w", err)
	}
	return data, nil
}

// Stat describes what is at path; with hash, SHA256 of a regular file.
func (c *Client) Stat(ctx context.Context, sandboxID, path string, hash bool) (*FileInfo, error) {
	var out struct {
		File FileInfo `json:"stat"`
	}
	q := `query ($id: ID!, $p: String!, $h: Boolean) { stat(sandboxId: $id, path: $p, hash: $h) { ` + fileFields + ` } }`
	if err := c.Do(ctx, q, map[string]any{"id": sandboxID, "p": path, "h": hash}, &out); err != nil {
		return nil, err
	}
	return &out.File, nil
}

// Exists says whether anything is at path.
func (c *Client) Exists(ctx context.Context, sandboxID, path string) (bool, error) {
	var out struct {
		Exists bool `json:"exists"`
	}
	err := c.Do(ctx, `query ($id: ID!, $p: String!) { exists(sandboxId: $id, path: $p) }`, map[string]any{"id": sandboxID, "p": path}, &out)
	return out.Exists, err
}

// ListFiles lists a directory depth levels deep (0: 1).
func (c *Client) ListFiles(ctx context.Context, sandboxID, path string, depth int) ([]FileInfo, error) {
	var out struct {
		Files []FileInfo `json:"listFiles"`
	}
	vars := map[string]any{"id": sandboxID, "p": path}
	if depth > 0 {
		vars["d"] = depth
	}
	q := `query ($id: ID!, $p: String!, $d: Int) { listFiles(sandboxId: $id, path: $p, depth: $d) { ` + fileFields + ` } }`
	err := c.Do(ctx, q, vars, &out)
	return out.Files, err
}

// MakeDir makes a directory and its missing parents.
func (c *Client) MakeDir(ctx context.Context, sandboxID, path string) (*FileInfo, error) {
	return c.fileOp(ctx, "makeDir", `(sandboxId: $id, path: $p)`, map[string]any{"id": sandboxID, "p": path})
}

// RenameFile moves path to newPath.
func (c *Client) RenameFile(ctx context.Context, sandboxID, path, newPath string) (*FileInfo, error) {
	return c.fileOp(ctx, "renameFile", `(sandboxId: $id, path: $p, newPath: $n)`, map[string]any{"id": sandboxID, "p": path, "n": newPath})
}

// RemoveFile removes a file, or a directory and all it holds.
func (c *Client) RemoveFile(ctx context.Context, sandboxID, path string) error {
	return c.Do(ctx, `mutation ($id: ID!, $p: String!) { removeFile(sandboxId: $id, path: $p) }`, map[string]any{"id": sandboxID, "p": path}, nil)
}

func (c *Client) fileOp(ctx context.Context, op, args string, vars map[string]any) (*FileInfo, error) {
	params := `$id: ID!, $p: String!`
	if _, ok := vars["n"]; ok {
		params += `, $n: String!`
	}
	var out map[string]FileInfo
	if err := c.Do(ctx, `mutation (`+params+`) { `+op+args+` { `+fileFields+` } }`, vars, &out); err != nil {
		return nil, err
	}
	fi := out[op]
	return &fi, nil
}

// filesURL is the plain-HTTP file endpoint of a path in a sandbox.
func (c *Client) filesURL(sandboxID, path string) string {
	base := strings.TrimSuffix(c.endpoint, "/graphql")
	return base + "/files/" + url.PathEscape(sandboxID) + "?path=" + url.QueryEscape(path)
}

// Upload streams r into path over PUT /files, for files of any size.
func (c *Client) Upload(ctx context.Context, sandboxID, path string, r io.Reader) (*FileInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.filesURL(sandboxID, path), r)
	if err != nil {
		return nil, fmt.Errorf("codeint: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("codeint: upload: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("codeint: read upload response: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, httpError(resp.StatusCode, raw)
	}
	var fi FileInfo
	if err := json.Unmarshal(raw, &fi); err != nil {
		return nil, fmt.Errorf("codeint: decode upload response: %w", err)
	}
	return &fi, nil
}

// Download streams a file from path to w over GET /files and checks it
// against the SHA-256 the server computed in the sandbox; it returns the
// bytes written and that hash (hex).
func (c *Client) Download(ctx context.Context, sandboxID, path string, w io.Writer) (int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.filesURL(sandboxID, path), nil)
	if err != nil {
		return 0, "", fmt.Errorf("codeint: %w", err)
	}
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("codeint: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return 0, "", httpError(resp.StatusCode, raw)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
	if err != nil {
		return n, "", fmt.Errorf("codeint: download: %w", err)
	}
	want := resp.Trailer.Get("X-Codeint-Sha256")
	got := hex.EncodeToString(h.Sum(nil))
	if want == "" || want != got {
		return n, got, &Error{Message: fmt.Sprintf("download of %s is incomplete or corrupt: sha256 %s, the sandbox's %q", path, got, want), Code: CodeUnavailable}
	}
	return n, got, nil
}

// UploadMultipart writes a small file through GraphQL's uploadFile
// mutation (the GraphQL multipart request spec; at most 64 MiB).
func (c *Client) UploadMultipart(ctx context.Context, sandboxID, path string, data []byte) (*FileInfo, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(request{
		Query:     `mutation ($id: ID!, $p: String!, $f: Upload!) { uploadFile(sandboxId: $id, path: $p, file: $f) { ` + fileFields + ` } }`,
		Variables: map[string]any{"id": sandboxID, "p": path, "f": nil},
	})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.f"]}`)
	part, err := mw.CreateFormFile("0", "upload")
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("codeint: build upload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, &body)
	if err != nil {
		return nil, fmt.Errorf("codeint: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("codeint: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("codeint: read response: %w", err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil || (r.Data == nil && r.Errors == nil) {
		return nil, statusError(resp.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return nil, toErrors(r.Errors, resp.StatusCode)
	}
	var out struct {
		File FileInfo `json:"uploadFile"`
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		return nil, fmt.Errorf("codeint: decode data: %w", err)
	}
	return &out.File, nil
}

// httpError decodes the GraphQL-shaped error body of /files.
func httpError(status int, raw []byte) error {
	var r response
	if err := json.Unmarshal(raw, &r); err == nil && len(r.Errors) > 0 {
		return toErrors(r.Errors, status)
	}
	return statusError(status, raw)
}

// WatchDir calls fn for every change under path (and its subdirectories
// when recursive) until ctx ends or fn returns an error; it returns that
// error (nil when ctx ended it).
func (c *Client) WatchDir(ctx context.Context, sandboxID, path string, recursive bool, fn func(FileEvent) error) error {
	q := `subscription ($id: ID!, $p: String!, $r: Boolean) { watchDir(sandboxId: $id, path: $p, recursive: $r) { type path isDir at } }`
	return each(ctx, c, q, "watchDir", map[string]any{"id": sandboxID, "p": path, "r": recursive}, fn)
}
