package runc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Errors of the driver.
var (
	// ErrExists is returned by Start for an id that already has a bundle.
	ErrExists = errors.New("runc: container already exists")
	// ErrNotSearchable is returned by New for a DataDir the container's
	// root could not traverse.
	ErrNotSearchable = errors.New("runc: directory not searchable by the container's uid")
)

// How long Stop waits for a killed container's runc to exit before it kills
// runc itself.
const stopWait = 5 * time.Second

// Config configures a Runtime.
type Config struct {
	RuncPath     string // default: runc from PATH
	DataDir      string // holds bundles/ and runc/ (runc --root)
	CgroupParent string // default DefaultCgroupParent; one agent per parent and host
	UIDBase      uint32 // default DefaultUIDBase
	Logger       *slog.Logger
}

// Runtime runs containers with one runc binary and state root.
type Runtime struct {
	runc    string
	root    string // runc --root
	bundles string
	cgroup  string
	uidBase uint32
	logger  *slog.Logger
}

// New prepares DataDir (mode 0711) and checks that the container's root can
// traverse it.
func New(cfg Config) (*Runtime, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("runc: Config.DataDir is required")
	}
	if cfg.RuncPath == "" {
		cfg.RuncPath = "runc"
	}
	runcPath, err := exec.LookPath(cfg.RuncPath)
	if err != nil {
		return nil, fmt.Errorf("runc: find runc binary (install runc >= 1.3, e.g. `go install github.com/opencontainers/runc@v1.3.4` with libseccomp-dev and -tags seccomp): %w", err)
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = DefaultCgroupParent
	}
	if err := ValidateID(cfg.CgroupParent); err != nil {
		return nil, fmt.Errorf("runc: cgroup parent: %w", err)
	}
	if cfg.UIDBase == 0 {
		cfg.UIDBase = DefaultUIDBase
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("runc: data dir: %w", err)
	}
	r := &Runtime{
		runc:    runcPath,
		root:    filepath.Join(dataDir, "runc"),
		bundles: filepath.Join(dataDir, "bundles"),
		cgroup:  cfg.CgroupParent,
		uidBase: cfg.UIDBase,
		logger:  cfg.Logger,
	}
	for _, d := range []string{dataDir, r.root, r.bundles} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("runc: create %s: %w", d, err)
		}
	}
	for _, d := range []string{r.root, r.bundles} {
		if err := os.Chmod(d, 0o711); err != nil {
			return nil, fmt.Errorf("runc: chmod %s: %w", d, err)
		}
	}
	if err := CheckSearchable(r.bundles); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckSearchable returns ErrNotSearchable unless dir and all its ancestors
// let others search them (mode o+x), as the container's unmapped host uid
// needs to reach its bundle.
func CheckSearchable(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("runc: %w", err)
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("runc: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%w: %s has mode %04o; chmod it 0711", ErrNotSearchable, p, fi.Mode().Perm())
		}
		if p == "/" {
			return nil
		}
	}
}

// BundleDir is where the bundle of container id lives.
func (r *Runtime) BundleDir(id string) string { return filepath.Join(r.bundles, id) }

// StateDir is runc's --root.
func (r *Runtime) StateDir() string { return r.root }

// RuncPath is the runc binary in use.
func (r *Runtime) RuncPath() string { return r.runc }

// Container is a running `runc run` in the foreground.
type Container struct {
	ID     string
	cmd    *exec.Cmd
	conn   *pipeConn
	done   chan struct{}
	err    error // runc's exit, set before done closes
	stderr *tailWriter
}

// Conn is the container init's stdio: writes go to its stdin, reads come
// from its stdout. Closing it closes the agent's ends of both pipes.
func (c *Container) Conn() io.ReadWriteCloser { return c.conn }

// Done is closed when the runc process has exited.
func (c *Container) Done() <-chan struct{} { return c.done }

// Err is runc's exit error once Done is closed, nil before.
func (c *Container) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Pid is the pid of the runc process (not of the container's init).
func (c *Container) Pid() int { return c.cmd.Process.Pid }

// StderrTail returns the last lines runc and the init wrote to stderr.
func (c *Container) StderrTail() string { return c.stderr.String() }

// Start writes the bundle for opts and runs it in the foreground: the init's
// stdin and stdout are pipes reachable through Container.Conn, its stderr
// and runc's go to the logger. opts.UIDBase and opts.CgroupParent default to
// the runtime's.
func (r *Runtime) Start(opts Options) (*Container, error) {
	if err := ValidateID(opts.ID); err != nil {
		return nil, err
	}
	if opts.UIDBase == 0 {
		opts.UIDBase = r.uidBase
	}
	opts.CgroupParent = r.cgroup
	bundle := r.BundleDir(opts.ID)
	if _, err := os.Lstat(bundle); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, opts.ID)
	}
	if err := WriteBundle(bundle, opts); err != nil {
		os.RemoveAll(bundle)
		return nil, err
	}
	c, err := r.run(opts.ID, bundle)
	if err != nil {
		os.RemoveAll(bundle)
		return nil, err
	}
	return c, nil
}

func (r *Runtime) run(id, bundle string) (*Container, error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runc: stdin pipe: %w", err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		closeFiles(stdinR, stdinW)
		return nil, fmt.Errorf("runc: stdout pipe: %w", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeFiles(stdinR, stdinW, stdoutR, stdoutW)
		return nil, fmt.Errorf("runc: stderr pipe: %w", err)
	}
	cmd := exec.Command(r.runc, "--root", r.root, "run", "--bundle", bundle, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, stderrW
	// Setpgid: a terminal's Ctrl-C for the agent does not reach runc (which
	// would forward it to the init). Pdeathsig: runc dies with the agent,
	// and runc gives the init its own parent-death signal, so a crashed
	// agent leaves stopped containers for Reconcile, not running ones. The
	// signal fires when the forking OS thread exits; the Go runtime keeps
	// its threads unless a goroutine exits while locked to one, which no
	// code of the agent does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	closeFiles(stdinR, stdoutW, stderrW) // the child has them now
	if err != nil {
		closeFiles(stdinW, stdoutR, stderrR)
		return nil, fmt.Errorf("runc: start runc run: %w", err)
	}
	c := &Container{
		ID:     id,
		cmd:    cmd,
		conn:   &pipeConn{r: stdoutR, w: stdinW},
		done:   make(chan struct{}),
		stderr: &tailWriter{max: 4096},
	}
	logger := r.logger.With("sandbox_id", id)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		defer stderrR.Close()
		sc := bufio.NewScanner(stderrR)
		for sc.Scan() {
			c.stderr.line(sc.Text())
			logger.Info(sc.Text(), "event", "container_stderr")
		}
	}()
	go func() {
		c.err = cmd.Wait()
		// The init's stderr may outlive runc (a crashed runc); give the
		// logger a moment to catch runc's last words only.
		select {
		case <-logDone:
		case <-time.After(100 * time.Millisecond):
		}
		logger.Info("runc exited", "event", "runc_exit", "err", c.err)
		close(c.done)
	}()
	return c, nil
}

// Stop kills the container, waits for its runc to exit and removes
// everything it left (Cleanup).
func (r *Runtime) Stop(ctx context.Context, c *Container) error {
	if err := r.Kill(ctx, c.ID); err != nil {
		r.logger.Debug("runc kill", "sandbox_id", c.ID, "err", err)
	}
	select {
	case <-c.done:
	case <-time.After(stopWait):
		r.logger.Warn("runc did not exit after kill; killing runc", "sandbox_id", c.ID, "event", "runc_kill")
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	c.conn.Close()
	return r.Cleanup(ctx, c.ID)
}

// Kill sends SIGKILL to the container's init; with it dies the whole PID
// namespace. A container that does not exist or no longer runs is not an
// error.
func (r *Runtime) Kill(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	_, err := r.command(ctx, "kill", id, "KILL")
	if isGone(err) {
		return nil
	}
	return err
}

// Cleanup removes what container id left on the host: it force-deletes the
// runc container (killing it if it still runs), removes the bundle and the
// container's cgroup directories. It reports an error when a cgroup
// directory could not be removed.
func (r *Runtime) Cleanup(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	var errs []error
	// A foreground runc deletes its container when the init exits; ask
	// runc only when its state is still there (a crashed runc, a leftover).
	if _, err := os.Lstat(filepath.Join(r.root, id)); err == nil {
		if _, err := r.command(ctx, "delete", "--force", id); err != nil && !isGone(err) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(r.BundleDir(id)); err != nil {
		errs = append(errs, fmt.Errorf("runc: remove bundle: %w", err))
	}
	if err := r.removeCgroups(ctx, id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// State is a container as `runc list` reports it.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

// List returns the containers in the runtime's runc root.
func (r *Runtime) List(ctx context.Context) ([]State, error) {
	out, err := r.command(ctx, "list", "-f", "json")
	if err != nil {
		return nil, err
	}
	var states []State
	if err := json.Unmarshal(bytes.TrimSpace(out), &states); err != nil {
		return nil, fmt.Errorf("runc: decode runc list: %w", err)
	}
	return states, nil
}

// Bundles returns the ids that have a bundle directory.
func (r *Runtime) Bundles() ([]string, error) {
	entries, err := os.ReadDir(r.bundles)
	if err != nil {
		return nil, fmt.Errorf("runc: list bundles: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
