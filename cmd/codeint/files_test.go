package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestFiles drives the file API of a real sandbox: GraphQL reads and
// writes, a 50 MiB binary round trip over /files with identical SHA-256,
// a multipart upload, the directory operations, a watch, and the refusals
// (traversal, device files, read-only paths, the disk quota).
func TestFiles(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "0")
	c := d.client()
	ctx := ctxT(t, 5*time.Minute)
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 600, DiskMB: 256})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("text and base64 through graphql", func(t *testing.T) {
		fi, err := c.WriteFile(ctx, sb.ID, "notes/hello.txt", []byte("héllo\n"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("héllo\n"))
		if fi.Path != "/home/user/notes/hello.txt" || fi.Size != 7 || fi.SHA256 != hex.EncodeToString(sum[:]) || fi.Type != codeint.FileTypeFile {
			t.Fatalf("wrote %+v", fi)
		}
		var out struct {
			ReadFile string `json:"readFile"`
		}
		err = c.Do(ctx, `query ($id: ID!) { readFile(sandboxId: $id, path: "/home/user/notes/hello.txt") }`, map[string]any{"id": sb.ID}, &out)
		if err != nil || out.ReadFile != "héllo\n" {
			t.Fatalf("readFile UTF8: %q %v", out.ReadFile, err)
		}
		// The program sees what the API wrote, as the user.
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "cat notes/hello.txt; stat -c %U notes/hello.txt"})
		if err != nil || res.Stdout != "héllo\nuser\n" {
			t.Fatalf("in the sandbox: %+v %v", res, err)
		}
	})

	t.Run("50 MiB round trip over /files", func(t *testing.T) {
		data := make([]byte, 50<<20)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		fi, err := c.Upload(ctx, sb.ID, "/tmp/big.bin", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size != int64(len(data)) || fi.SHA256 != want {
			t.Fatalf("uploaded %+v, want sha256 %s", fi, want)
		}
		var back bytes.Buffer
		n, got, err := c.Download(ctx, sb.ID, "/tmp/big.bin", &back)
		if err != nil || n != int64(len(data)) || got != want || !bytes.Equal(back.Bytes(), data) {
			t.Fatalf("downloaded %d bytes sha256 %s: %v", n, got, err)
		}
		res, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "sha256sum /tmp/big.bin | cut -d' ' -f1"})
		if err != nil || strings.TrimSpace(res.Stdout) != want {
			t.Fatalf("sha256sum in the sandbox: %+v %v", res, err)
		}
		if err := c.RemoveFile(ctx, sb.ID, "/tmp/big.bin"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("multipart upload", func(t *testing.T) {
		fi, err := c.UploadMultipart(ctx, sb.ID, "up/small.bin", []byte{0, 1, 2, 255})
		if err != nil || fi.Size != 4 {
			t.Fatalf("uploadFile: %+v %v", fi, err)
		}
		data, err := c.ReadFile(ctx, sb.ID, "up/small.bin")
		if err != nil || !bytes.Equal(data, []byte{0, 1, 2, 255}) {
			t.Fatalf("read back %v %v", data, err)
		}
	})

	t.Run("directories", func(t *testing.T) {
		if _, err := c.MakeDir(ctx, sb.ID, "/home/user/a/b/c"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteFile(ctx, sb.ID, "/home/user/a/b/f.txt", []byte("f")); err != nil {
			t.Fatal(err)
		}
		one, err := c.ListFiles(ctx, sb.ID, "/home/user/a", 1)
		if err != nil || len(one) != 1 || one[0].Path != "/home/user/a/b" || one[0].Type != codeint.FileTypeDir {
			t.Fatalf("depth 1: %+v %v", one, err)
		}
		three, err := c.ListFiles(ctx, sb.ID, "/home/user/a", 3)
		if err != nil || len(three) != 3 {
			t.Fatalf("depth 3: %+v %v", three, err)
		}
		fi, err := c.RenameFile(ctx, sb.ID, "/home/user/a/b/f.txt", "/home/user/a/g.txt")
		if err != nil || fi.Path != "/home/user/a/g.txt" {
			t.Fatalf("rename: %+v %v", fi, err)
		}
		if ok, err := c.Exists(ctx, sb.ID, "/home/user/a/b/f.txt"); err != nil || ok {
			t.Fatalf("the old name exists: %v %v", ok, err)
		}
		st, err := c.Stat(ctx, sb.ID, "/home/user/a/g.txt", true)
		sum := sha256.Sum256([]byte("f"))
		if err != nil || st.SHA256 != hex.EncodeToString(sum[:]) || st.Size != 1 {
			t.Fatalf("stat: %+v %v", st, err)
		}
		if err := c.RemoveFile(ctx, sb.ID, "/home/user/a"); err != nil {
			t.Fatal(err)
		}
		_, err = c.Stat(ctx, sb.ID, "/home/user/a", false)
		wantCode(t, err, codeint.CodeNotFound)
	})

	t.Run("watch", func(t *testing.T) {
		if _, err := c.MakeDir(ctx, sb.ID, "/home/user/w"); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		events := make(chan codeint.FileEvent, 64)
		go func() {
			_ = c.WatchDir(wctx, sb.ID, "/home/user/w", true, func(ev codeint.FileEvent) error {
				events <- ev
				return nil
			})
		}()
		// The subscription starts asynchronously: write until it sees.
		seen := map[string]bool{}
		deadline := time.After(30 * time.Second)
		for i := 0; !seen["CREATE /home/user/w/sub/x.txt"]; i++ {
			if i < 50 {
				if _, err := c.WriteFile(ctx, sb.ID, "/home/user/w/sub/x.txt", []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case ev := <-events:
				seen[ev.Type+" "+ev.Path] = true
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatalf("no CREATE of w/sub/x.txt among %v", seen)
			}
		}
		if err := c.RemoveFile(ctx, sb.ID, "/home/user/w/sub/x.txt"); err != nil {
			t.Fatal(err)
		}
		for !seen["REMOVE /home/user/w/sub/x.txt"] {
			select {
			case ev := <-events:
				seen[ev.Type+" "+ev.Path] = true
			case <-deadline:
				t.Fatalf("no REMOVE of w/sub/x.txt among %v", seen)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, p := range []string{"../../etc/passwd", "/home/user/../../etc/shadow", "/dev/null", "/proc/1/environ", "/proc/self/environ"} {
			_, err := c.ReadFile(ctx, sb.ID, p)
			wantCode(t, err, codeint.CodeInvalidArgument)
		}
		if _, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "ln -s /proc/1/environ /home/user/link"}); err != nil {
			t.Fatal(err)
		}
		_, err := c.ReadFile(ctx, sb.ID, "/home/user/link")
		wantCode(t, err, codeint.CodeInvalidArgument)
		_, err = c.WriteFile(ctx, sb.ID, "/usr/bin/evil", []byte("x"))
		wantCode(t, err, codeint.CodeFailedPrecondition)
		if err == nil || !strings.Contains(err.Error(), "/usr/bin/evil") {
			t.Errorf("the read-only error does not name the path: %v", err)
		}
		_, err = c.ReadFile(ctx, sb.ID, "/home/user/nothing-here")
		wantCode(t, err, codeint.CodeNotFound)
	})

	t.Run("disk quota", func(t *testing.T) {
		small, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{TimeoutSeconds: 120, DiskMB: 16})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Upload(ctx, small.ID, "/home/user/huge.bin", bytes.NewReader(make([]byte, 40<<20)))
		wantCode(t, err, codeint.CodeResourceExhausted)
		list, err := c.ListFiles(ctx, small.ID, "/home/user", 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range list {
			if f.Type == codeint.FileTypeFile {
				t.Errorf("left behind after the failed upload: %+v", f)
			}
		}
		if _, err := c.WriteFile(ctx, small.ID, "/home/user/ok.txt", []byte("fits")); err != nil {
			t.Errorf("a small write after the failed one: %v", err)
		}
	})

	t.Run("another team", func(t *testing.T) {
		stranger := d.stranger(t, "files-other")
		_, err := stranger.ReadFile(ctx, sb.ID, "notes/hello.txt")
		wantCode(t, err, codeint.CodeNotFound)
		var sink bytes.Buffer
		_, _, err = stranger.Download(ctx, sb.ID, "notes/hello.txt", &sink)
		wantCode(t, err, codeint.CodeNotFound)
		_, err = stranger.Upload(ctx, sb.ID, "x", strings.NewReader("x"))
		wantCode(t, err, codeint.CodeNotFound)
	})
}
