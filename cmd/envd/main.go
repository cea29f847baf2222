package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/cmd/envd/internal/server"
	"github.com/hashicorp/yamux"
)

// defaultEnv is what executions see unless the sandbox or the request says
// otherwise.
func defaultEnv() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/home/user",
		"LANG=C.UTF-8",
		"PYTHONUNBUFFERED=1",
	}
}

func main() {
	runDir := flag.String("run-dir", "/run/envd", "private directory for code files (created 0700)")
	workDir := flag.String("work-dir", "/home/user", "working directory of executions")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "envd")
	if err := run(logger, *runDir, *workDir); err != nil {
		logger.Error("envd failed", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, runDir, workDir string) error {
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return fmt.Errorf("create run dir: %w", err)
	}
	if err := os.Chmod(runDir, 0o700); err != nil {
		return fmt.Errorf("chmod run dir: %w", err)
	}
	r := reaper.New()
	defer r.Close()

	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false // the pipes report a dead peer as EOF
	cfg.LogOutput = os.Stderr
	sess, err := yamux.Server(stdio{os.Stdin, os.Stdout}, cfg)
	if err != nil {
		return fmt.Errorf("start yamux server: %w", err)
	}
	defer sess.Close()

	srv := server.New(server.Config{
		RunDir:  runDir,
		WorkDir: workDir,
		Env:     environ(),
		Reaper:  r,
		Logger:  logger,
	})
	logger.Info("envd serving", "pid", os.Getpid())
	return srv.Serve(sess)
}

// environ is the default environment overlaid with envd's own (the
// sandbox's env, set by the agent in the container spec).
func environ() []string {
	env := defaultEnv()
	for _, kv := range os.Environ() {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			env = append(env, kv) // later entries win in server.New
		}
	}
	return env
}

// stdio joins stdin and stdout into the connection yamux runs over.
type stdio struct {
	r io.ReadCloser
	w io.WriteCloser
}

func (s stdio) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s stdio) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s stdio) Close() error {
	err := s.r.Close()
	if werr := s.w.Close(); err == nil {
		err = werr
	}
	return err
}
