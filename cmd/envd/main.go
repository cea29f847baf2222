package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/codeint/codeint/cmd/envd/internal/childinit"
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

// prSetDumpable is prctl(2)'s PR_SET_DUMPABLE.
const prSetDumpable = 4

func main() {
	if len(os.Args) > 1 && os.Args[1] == childinit.Arg {
		childinit.Main(os.Args[1:]) // an execution's child, before its program
	}
	runDir := flag.String("run-dir", "/run/envd", "private directory for code files (created 0711)")
	workDir := flag.String("work-dir", "/home/user", "working directory of executions")
	buildDir := flag.String("build-dir", "/tmp", "where compiled languages get a build directory per execution (sticky, exec allowed)")
	user := flag.String("user", "", "uid:gid executions run as (empty: envd's own)")
	writable := flag.String("writable", "", "comma-separated size-limited writable dirs, checked to name DISK_FULL")
	childOOM := flag.String("child-oom-score-adj", "", "oom_score_adj of every execution (empty: inherit envd's)")
	envFile := flag.String("env-file", "", "the sandbox's environment for executions: KEY=VALUE entries, each ended by NUL")
	memLimit := flag.Uint64("memory-limit-mb", 0, "kill the largest user process above this much memory in use (0: leave it to the kernel)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "envd")
	cfg := options{runDir: *runDir, workDir: *workDir, buildDir: *buildDir, user: *user, writable: *writable, childOOM: *childOOM, envFile: *envFile, memLimitMB: *memLimit}
	if err := run(logger, cfg); err != nil {
		logger.Error("envd failed", "err", err)
		os.Exit(1)
	}
}

// options are envd's flags.
type options struct {
	runDir, workDir, buildDir, user, writable, childOOM, envFile string
	memLimitMB                                                   uint64
}

func run(logger *slog.Logger, o options) error {
	// Non-dumpable: no core dumps, and /proc/1/{mem,environ,fd,…} belong to
	// root and pass the ptrace access check only with CAP_SYS_PTRACE, so a
	// process of the sandbox cannot read envd's memory or reach its pipes
	// even if it ran as envd's uid.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", errno)
	}
	// In the background: envd answers at once, and the threads are ready
	// long before a program could fill the sandbox's pids.
	go prewarmThreads(spareThreads)
	runAs, err := parseUser(o.user)
	if err != nil {
		return err
	}
	var childOOM *int
	if o.childOOM != "" {
		adj, err := strconv.Atoi(o.childOOM)
		if err != nil || adj < -1000 || adj > 1000 {
			return fmt.Errorf("-child-oom-score-adj %q: want -1000..1000", o.childOOM)
		}
		childOOM = &adj
	}
	if err := os.MkdirAll(o.runDir, 0o711); err != nil {
		return fmt.Errorf("create run dir: %w", err)
	}
	// 0711: executions of another uid read their code file by name, and
	// cannot list the directory.
	if err := os.Chmod(o.runDir, 0o711); err != nil {
		return fmt.Errorf("chmod run dir: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	env, err := environ(o.envFile)
	if err != nil {
		return err
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
		RunDir:           o.runDir,
		WorkDir:          o.workDir,
		BuildDir:         o.buildDir,
		Env:              env,
		Reaper:           r,
		Logger:           logger,
		RunAs:            runAs,
		Self:             self,
		ChildOOMScoreAdj: childOOM,
		WritableDirs:     splitList(o.writable),
		MemoryLimit:      o.memLimitMB << 20,
	})
	logger.Info("envd serving", "pid", os.Getpid(), "run_as", o.user)
	return srv.Serve(sess)
}

// parseUser reads "uid:gid".
func parseUser(s string) (*server.Credential, error) {
	if s == "" {
		return nil, nil
	}
	u, g, ok := strings.Cut(s, ":")
	uid, uerr := strconv.ParseUint(u, 10, 32)
	gid, gerr := strconv.ParseUint(g, 10, 32)
	if !ok || uerr != nil || gerr != nil || uid == 0 {
		return nil, fmt.Errorf("-user %q: want uid:gid with a non-zero uid", s)
	}
	return &server.Credential{UID: uint32(uid), GID: uint32(gid)}, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// environ is the default environment overlaid with the sandbox's: the
// env file when there is one (in a sandbox, envd's own environment holds
// nothing of it), else envd's own environment. Keys with the reserved
// prefix are dropped by the server.
func environ(envFile string) ([]string, error) {
	env := defaultEnv()
	extra := os.Environ()
	if envFile != "" {
		data, err := os.ReadFile(envFile)
		if err != nil {
			return nil, fmt.Errorf("read env file: %w", err)
		}
		extra = strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
	}
	for _, kv := range extra {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			env = append(env, kv) // later entries win in server.New
		}
	}
	return env, nil
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
