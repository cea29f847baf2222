package sandboxes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// fakeEnvd answers every stream the fake agent opens with serve, run on
// the envd side of an in-memory pipe.
func fakeEnvd(f *fixture, serve func(conn net.Conn)) {
	f.agent.envd = func(string) (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			defer b.Close()
			serve(b)
		}()
		return a, nil
	}
}

func readRequest(t *testing.T, conn net.Conn, want envdproto.FrameType, v any) {
	t.Helper()
	typ, payload, err := envdproto.ReadFrame(conn)
	if err != nil || typ != want {
		t.Errorf("envd read %s %v, want %s", typ, err, want)
		return
	}
	if err := envdproto.DecodeJSON(typ, payload, v); err != nil {
		t.Error(err)
	}
}

func TestContextsThroughEnvd(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sb, err := f.svc.Create(ctx, "t1", CreateInput{TimeoutSeconds: ptr(60), Env: []structs.EnvVar{{Name: "A", Value: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan envdproto.ContextRequest, 1)
	fakeEnvd(f, func(conn net.Conn) {
		var req envdproto.ContextRequest
		readRequest(t, conn, envdproto.FrameContextRequest, &req)
		got <- req
		if req.ID == "ctx_missing" {
			_ = envdproto.WriteJSON(conn, envdproto.FrameError, &envdproto.Error{Code: envdproto.CodeNotFound, Message: "no context ctx_missing"})
			return
		}
		_ = envdproto.WriteJSON(conn, envdproto.FrameContextReply, &envdproto.ContextReply{Contexts: []envdproto.ContextInfo{
			{ID: req.ID, Language: req.Language, Cwd: req.Cwd}}})
	})

	c, err := f.svc.CreateContext(ctx, "t1", sb.ID, "PYTHON", "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	req := <-got
	if req.Op != envdproto.ContextCreate || !strings.HasPrefix(req.ID, "ctx_") || len(req.ID) < 12 || req.Env["A"] != "1" ||
		c.ID != req.ID || c.SandboxID != sb.ID || c.Cwd != "/tmp" {
		t.Fatalf("create sent %+v, returned %+v", req, c)
	}
	other, err := f.svc.CreateContext(ctx, "t1", sb.ID, "PYTHON", "")
	if err != nil || other.ID == c.ID {
		t.Fatalf("a second context: %+v %v (ids must differ)", other, err)
	}
	<-got

	err = f.svc.RemoveContext(ctx, "t1", sb.ID, "ctx_missing")
	wantCode(t, err, apperr.NotFound)
	<-got
	_, err = f.svc.InterruptContext(ctx, "t2", sb.ID, c.ID)
	wantCode(t, err, apperr.NotFound) // another team's sandbox: envd is never asked
	_, err = f.svc.CreateContext(ctx, "t1", sb.ID, "BASH", "")
	wantCode(t, err, apperr.InvalidArgument)
	_, err = f.svc.CreateContext(ctx, "t1", sb.ID, "PYTHON", "relative")
	wantCode(t, err, apperr.InvalidArgument)
	_, err = f.svc.Execute(ctx, "t1", sb.ID, ExecuteInput{Language: "PYTHON", Code: "1", ContextID: c.ID, Cwd: "/tmp"}, nil)
	wantCode(t, err, apperr.InvalidArgument)
}

func TestFilesThroughEnvd(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sb, err := f.svc.Create(ctx, "t1", CreateInput{TimeoutSeconds: ptr(60)})
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), envdproto.MaxDataChunk/4) // several Data frames
	sum := sha256.Sum256(content)
	written := make(chan []byte, 1)
	fakeEnvd(f, func(conn net.Conn) {
		var req envdproto.FileRequest
		readRequest(t, conn, envdproto.FrameFileRequest, &req)
		switch {
		case req.Op == envdproto.FileWrite && req.Path == "/ro/x":
			_ = envdproto.WriteJSON(conn, envdproto.FrameError, &envdproto.Error{Code: envdproto.CodeFailedPrecondition, Message: "/ro/x is on a read-only file system"})
		case req.Op == envdproto.FileWrite:
			var got []byte
			for {
				typ, payload, err := envdproto.ReadFrame(conn)
				if err != nil || typ != envdproto.FrameData {
					t.Errorf("write: frame %s %v", typ, err)
					return
				}
				if len(payload) == 0 {
					break
				}
				got = append(got, payload...)
			}
			written <- got
			s := sha256.Sum256(got)
			_ = envdproto.WriteJSON(conn, envdproto.FrameFileReply, &envdproto.FileReply{Info: &envdproto.FileInfo{Path: req.Path,
				Size: int64(len(got)), SHA256: hex.EncodeToString(s[:])}})
		case req.Op == envdproto.FileRead && req.Path == "/quota":
			_ = envdproto.WriteJSON(conn, envdproto.FrameError, &envdproto.Error{Code: envdproto.CodeResourceExhausted, Message: "full"})
		case req.Op == envdproto.FileRead:
			_ = envdproto.WriteJSON(conn, envdproto.FrameFileReply, &envdproto.FileReply{Info: &envdproto.FileInfo{Path: req.Path, Size: int64(len(content))}})
			for rest := content; len(rest) > 0; {
				n := min(len(rest), envdproto.MaxDataChunk)
				_ = envdproto.WriteFrame(conn, envdproto.FrameData, rest[:n])
				rest = rest[n:]
			}
			_ = envdproto.WriteFrame(conn, envdproto.FrameData, nil)
			_ = envdproto.WriteJSON(conn, envdproto.FrameFileReply, &envdproto.FileReply{Info: &envdproto.FileInfo{Path: req.Path,
				SHA256: hex.EncodeToString(sum[:])}})
		}
	})

	fi, err := f.svc.WriteFile(ctx, "t1", sb.ID, "/home/user/f", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-written; !bytes.Equal(got, content) || fi.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("envd got %d bytes, reply %+v", len(got), fi)
	}
	_, err = f.svc.WriteFile(ctx, "t1", sb.ID, "/ro/x", bytes.NewReader(content))
	wantCode(t, err, apperr.FailedPrecondition)
	if err == nil || !strings.Contains(err.Error(), "/ro/x") {
		t.Fatalf("the read-only error does not name the path: %v", err)
	}

	r, err := f.svc.OpenFile(ctx, "t1", sb.ID, "/home/user/f")
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(back, content) || r.SHA256() != hex.EncodeToString(sum[:]) || r.Info().Size != int64(len(content)) {
		t.Fatalf("read %d bytes, sha %q, info %+v: %v", len(back), r.SHA256(), r.Info(), err)
	}
	_, err = f.svc.OpenFile(ctx, "t1", sb.ID, "/quota")
	wantCode(t, err, apperr.ResourceExhausted)
	_, err = f.svc.OpenFile(ctx, "t1", sb.ID, "")
	wantCode(t, err, apperr.InvalidArgument)
}
