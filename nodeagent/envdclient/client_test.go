package envdclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// envdPath is the envd binary TestMain builds. These tests run it as a
// plain child process (no container): the protocol and the process
// handling are the same.
var envdPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "codeint-envdclient-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	envdPath = filepath.Join(dir, "envd")
	build := exec.Command("go", "build", "-o", envdPath, "github.com/codeint/codeint/cmd/envd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build envd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pipes joins a child's stdout (read) and stdin (write).
type pipes struct {
	io.ReadCloser
	w io.WriteCloser
}

func (p pipes) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p pipes) Close() error                { return errors.Join(p.w.Close(), p.ReadCloser.Close()) }

// startEnvd runs envd and returns a client connected to it.
func startEnvd(t *testing.T) (*envdclient.Client, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(envdPath, "-run-dir", filepath.Join(t.TempDir(), "run"), "-work-dir", t.TempDir())
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := envdclient.New(pipes{r, w}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c, cmd
}

func TestPingAndExec(t *testing.T) {
	c, _ := startEnvd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			res, err := c.Exec(ctx, agentapi.ExecRequest{Language: agentapi.Bash, Code: fmt.Sprintf("echo out %d; echo err >&2; exit %d", i, i)}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Stdout != fmt.Sprintf("out %d\n", i) || res.Stderr != "err\n" || res.ExitCode != i {
				t.Errorf("exec %d: %+v", i, res)
			}
		})
	}
	wg.Wait()
	_, err := c.Exec(ctx, agentapi.ExecRequest{Language: "COBOL"}, nil)
	var e *envdproto.Error
	if !errors.As(err, &e) || e.Code != envdproto.CodeInvalidArgument {
		t.Fatalf("unknown language: %v", err)
	}
}

func TestExecCancel(t *testing.T) {
	c, _ := startEnvd(t)
	ctx, cancel := context.WithCancel(context.Background())
	begin := time.Now()
	_, err := c.Exec(ctx, agentapi.ExecRequest{Language: agentapi.Bash, Code: "echo go; sleep 20"},
		func(agentapi.OutputChunk) { cancel() })
	if !errors.Is(err, context.Canceled) || time.Since(begin) > 3*time.Second {
		t.Fatalf("Exec after cancel = %v after %v", err, time.Since(begin))
	}
	// The session survives a cancelled stream.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := c.Ping(ctx2); err != nil {
		t.Fatal(err)
	}
}

func TestDoneWhenEnvdDies(t *testing.T) {
	c, cmd := startEnvd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// Outside a container the orphaned sleep outlives envd: keep it short.
		_, err := c.Exec(ctx, agentapi.ExecRequest{Language: agentapi.Bash, Code: "sleep 2"}, nil)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Kill()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after envd died")
	}
	if err := <-errc; !errors.Is(err, envdclient.ErrClosed) {
		t.Fatalf("in-flight Exec: %v, want ErrClosed", err)
	}
	if err := c.Ping(ctx); !errors.Is(err, envdclient.ErrClosed) {
		t.Fatalf("Ping after death: %v, want ErrClosed", err)
	}
}
