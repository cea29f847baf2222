package server

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// newSession serves a Server over an in-memory connection and returns the
// client side.
func newSession(t *testing.T) *yamux.Session {
	t.Helper()
	r := reaper.New()
	srv := New(Config{RunDir: t.TempDir(), WorkDir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin", "BASE=1"}, Reaper: r})
	a, b := net.Pipe()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = os.Stderr
	server, err := yamux.Server(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := yamux.Client(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(server)
	}()
	t.Cleanup(func() {
		client.Close()
		server.Close()
		<-served
		r.Close()
	})
	return client
}

type reply struct {
	stdout, stderr string
	frames         int
	result         *envdproto.Result
	err            *envdproto.Error
}

// call sends one request and collects the answer until envd closes.
func call(t *testing.T, sess *yamux.Session, typ envdproto.FrameType, req any) reply {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if req == nil {
		err = envdproto.WriteFrame(st, typ, nil)
	} else {
		err = envdproto.WriteJSON(st, typ, req)
	}
	if err != nil {
		t.Fatal(err)
	}
	var rep reply
	for {
		ft, payload, err := envdproto.ReadFrame(st)
		if err != nil {
			return rep
		}
		rep.frames++
		switch ft {
		case envdproto.FrameOutput:
			s, data, _ := envdproto.DecodeOutput(payload)
			if s == envdproto.StreamStderr {
				rep.stderr += string(data)
			} else {
				rep.stdout += string(data)
			}
		case envdproto.FrameResult:
			rep.result = &envdproto.Result{}
			envdproto.DecodeJSON(ft, payload, rep.result)
		case envdproto.FrameError:
			rep.err = &envdproto.Error{}
			envdproto.DecodeJSON(ft, payload, rep.err)
		}
	}
}

func TestServer(t *testing.T) {
	sess := newSession(t)
	t.Run("ping", func(t *testing.T) {
		if rep := call(t, sess, envdproto.FramePing, nil); rep.frames != 1 {
			t.Fatalf("ping: %+v", rep)
		}
	})
	t.Run("exec", func(t *testing.T) {
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
			Code: `echo "$BASE $X $(pwd)"; echo e >&2; kill -TERM $$`, Env: map[string]string{"X": "2"}})
		if rep.result == nil || !strings.HasPrefix(rep.stdout, "1 2 /") || rep.stderr != "e\n" || rep.result.ExitCode != 128+15 ||
			rep.result.Error == nil || rep.result.Error.Name != envdproto.ErrNameKilled {
			t.Fatalf("exec: %+v %+v", rep, rep.result)
		}
	})
	t.Run("output cap", func(t *testing.T) {
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
			Code: `head -c 200000 /dev/zero | tr '\0' x`, MaxOutputBytes: 1000})
		if rep.result == nil || len(rep.stdout) != 1000 || !rep.result.Truncated {
			t.Fatalf("cap: %d bytes, %+v", len(rep.stdout), rep.result)
		}
	})
	t.Run("timeout kills the group", func(t *testing.T) {
		begin := time.Now()
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
			Code: "sleep 20 & sleep 20; echo never", TimeoutMS: 300})
		if rep.result == nil || !rep.result.TimedOut || rep.stdout != "" || time.Since(begin) > 3*time.Second {
			t.Fatalf("timeout: %+v %+v after %v", rep, rep.result, time.Since(begin))
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, req := range []*envdproto.ExecRequest{
			{Language: "COBOL"},
			{Language: envdproto.LangBash, Env: map[string]string{"A=B": "x"}},
		} {
			if rep := call(t, sess, envdproto.FrameExecRequest, req); rep.err == nil || rep.err.Code != envdproto.CodeInvalidArgument {
				t.Errorf("%+v: %+v", req, rep)
			}
		}
	})
}
