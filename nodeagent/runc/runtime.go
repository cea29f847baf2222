package runc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// ErrNotInstalled is returned by New when the runtime binary is not
	// found.
	ErrNotInstalled = errors.New("runc: runtime binary not installed")
)

// How long Stop waits for a killed container's processes to exit.
const stopWait = 5 * time.Second

// Config configures a Runtime.
type Config struct {
	Kind         Kind   // default KindRunc
	Path         string // the runtime binary; default: the Kind's name from PATH
	DataDir      string // holds bundles/ and <kind>/ (the runtime's --root)
	CgroupParent string // default DefaultCgroupParent; one agent per parent and host
	// ParentCPUWeight is the CPU weight of the cgroup parent, in cgroup v2
	// units (cpu.shares of the same weight on v1); default
	// DefaultParentCPUWeight, the lowest.
	ParentCPUWeight uint64
	UIDBase         uint32 // Options.UIDBase when Start is given none; default DefaultUIDBase
	Logger          *slog.Logger
}

// Runtime runs containers with one runtime binary and state root.
type Runtime struct {
	kind    Kind
	bin     string
	root    string // --root
	bundles string
	cgroup  string
	uidBase uint32
	logger  *slog.Logger
	protect bool // the init may get oom_score_adj -1000 (CAP_SYS_RESOURCE)
}

// installHint says how to get a runtime that is missing.
func installHint(k Kind) string {
	if k == KindRunsc {
		return "install gVisor's runsc (Debian: apt-get install runsc)"
	}
	return "install runc >= 1.3 (go install github.com/opencontainers/runc@v1.3.4 with libseccomp-dev and -tags seccomp)"
}

// New prepares DataDir (mode 0711) and checks that the container's root can
// traverse it, and gives the cgroup parent its CPU weight
// (Config.ParentCPUWeight). A missing binary is an error wrapping
// ErrNotInstalled.
func New(cfg Config) (*Runtime, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("runc: Config.DataDir is required")
	}
	if cfg.Kind == "" {
		cfg.Kind = KindRunc
	}
	if cfg.Kind != KindRunc && cfg.Kind != KindRunsc {
		return nil, fmt.Errorf("runc: unknown runtime kind %q", cfg.Kind)
	}
	if cfg.Path == "" {
		cfg.Path = string(cfg.Kind)
	}
	bin, err := exec.LookPath(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s not found (%s): %w", ErrNotInstalled, cfg.Path, installHint(cfg.Kind), err)
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
	if cfg.ParentCPUWeight == 0 {
		cfg.ParentCPUWeight = DefaultParentCPUWeight
	}
	if err := setParentCPUWeight(cfg.CgroupParent, cfg.ParentCPUWeight); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("runc: data dir: %w", err)
	}
	r := &Runtime{
		kind:    cfg.Kind,
		bin:     bin,
		root:    filepath.Join(dataDir, string(cfg.Kind)),
		bundles: filepath.Join(dataDir, "bundles"),
		cgroup:  cfg.CgroupParent,
		uidBase: cfg.UIDBase,
		logger:  cfg.Logger.With("runtime", string(cfg.Kind)),
		protect: cfg.Kind == KindRunc && hasCapSysResource(),
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

// Kind is the runtime this Runtime drives.
func (r *Runtime) Kind() Kind { return r.kind }

// BundleDir is where the bundle of container id lives.
func (r *Runtime) BundleDir(id string) string { return filepath.Join(r.bundles, id) }

// StateDir is the runtime's --root.
func (r *Runtime) StateDir() string { return r.root }

// Path is the runtime binary in use.
func (r *Runtime) Path() string { return r.bin }

// ProtectsInit reports whether containers' inits get oom_score_adj -1000
// (runc, with CAP_SYS_RESOURCE held by this process).
func (r *Runtime) ProtectsInit() bool { return r.protect }

// CgroupParent names the cgroup the containers' cgroups are created under.
func (r *Runtime) CgroupParent() string { return r.cgroup }

// globalArgs come before the subcommand.
func (r *Runtime) globalArgs() []string {
	if r.kind == KindRunsc {
		// ptrace: works without /dev/kvm, in VMs and containers. No
		// network device at all. --oci-seccomp applies the bundle's
		// seccomp profile to the sandbox's processes inside gVisor
		// (runsc ignores it otherwise).
		return []string{"--root", r.root, "--platform=ptrace", "--network=none", "--oci-seccomp"}
	}
	return []string{"--root", r.root}
}

// command runs the runtime with args and returns its stdout. An error
// carries the runtime's stderr.
func (r *Runtime) command(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.bin, append(r.globalArgs(), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &CommandError{Runtime: r.kind, Args: args, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return stdout.Bytes(), nil
}

// Start writes the bundle for opts and runs it detached: the init's stdin
// and stdout are pipes reachable through Container.Conn (passed through
// the runtime, which exits once the container runs), its stderr and the
// runtime's go to the logger. opts.UIDBase defaults to the runtime's;
// opts.CgroupParent and opts.Kind are the runtime's.
func (r *Runtime) Start(ctx context.Context, opts Options) (*Container, error) {
	if err := ValidateID(opts.ID); err != nil {
		return nil, err
	}
	if opts.UIDBase == 0 {
		opts.UIDBase = r.uidBase
	}
	opts.CgroupParent = r.cgroup
	opts.Kind = r.kind
	opts.ProtectInit = r.protect
	bundle := r.BundleDir(opts.ID)
	if _, err := os.Lstat(bundle); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, opts.ID)
	}
	if err := WriteBundle(bundle, opts); err != nil {
		os.RemoveAll(bundle)
		return nil, err
	}
	c, err := r.run(ctx, opts.ID, bundle)
	if err != nil {
		if cerr := r.Cleanup(context.WithoutCancel(ctx), opts.ID); cerr != nil {
			r.logger.Warn("cleanup after failed start", "sandbox_id", opts.ID, "err", cerr)
		}
		return nil, err
	}
	c.UIDBase = opts.UIDBase
	return c, nil
}

func (r *Runtime) run(ctx context.Context, id, bundle string) (*Container, error) {
	var files [6]*os.File // init's stdin, stdout, stderr; our ends
	var err error
	if files[0], files[3], err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("runc: stdin pipe: %w", err)
	}
	if files[4], files[1], err = os.Pipe(); err != nil {
		closeFiles(files[:]...)
		return nil, fmt.Errorf("runc: stdout pipe: %w", err)
	}
	if files[5], files[2], err = os.Pipe(); err != nil {
		closeFiles(files[:]...)
		return nil, fmt.Errorf("runc: stderr pipe: %w", err)
	}
	pidFile := filepath.Join(bundle, "init.pid")
	args := append(r.globalArgs(), "run", "--detach", "--pid-file", pidFile, "--bundle", bundle, id)
	cmd := exec.CommandContext(ctx, r.bin, args...)
	// Pass-through stdio: the runtime hands these descriptors to the
	// container's init and exits; no runtime process stays per sandbox.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	// Setpgid: a terminal's Ctrl-C for the agent does not reach the
	// runtime.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c := &Container{ID: id, Kind: r.kind, conn: &pipeConn{r: files[4], w: files[3]}, stderr: &tailWriter{max: 4096}}
	logDone := r.logStderr(id, files[5], c.stderr)
	runErr := cmd.Run()
	closeFiles(files[:3]...) // the init has them now
	if runErr != nil {
		c.conn.Close()
		select { // the runtime's last words, once nothing holds the pipe
		case <-logDone:
		case <-time.After(200 * time.Millisecond):
		}
		return nil, &CommandError{Runtime: r.kind, Args: []string{"run", "--detach", id}, Stderr: c.StderrTail(), Err: runErr}
	}
	c.pid, err = readPidFile(pidFile)
	if err == nil {
		c.cgroup, err = openCgroup(r.cgroup, id)
	}
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	// The runtime has exited: what it started is re-parented to the agent.
	c.adopted = adoptedChildren(c.cgroup.Path())
	if !slices.Contains(c.adopted, c.pid) {
		c.adopted = append(c.adopted, c.pid)
	}
	return c, nil
}

// logStderr logs the init's and the runtime's stderr lines, keeping a
// tail. The returned channel closes at EOF: when the init and every
// runtime process holding the pipe have exited.
func (r *Runtime) logStderr(id string, f *os.File, tail *tailWriter) <-chan struct{} {
	done := make(chan struct{})
	logger := r.logger.With("sandbox_id", id)
	go func() {
		defer close(done)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			tail.line(sc.Text())
			logger.Info(sc.Text(), "event", "container_stderr")
		}
	}()
	return done
}

func readPidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("runc: read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("runc: pid file %s holds %q", path, data)
	}
	return pid, nil
}
