package sandboxes

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
)

// Limits are the server's defaults and bounds for sandboxes and executions.
type Limits struct {
	DefaultTimeout     time.Duration // sandbox lifetime when the caller gives none
	MaxTimeout         time.Duration // the longest lifetime a caller may ask for
	DefaultExecTimeout time.Duration
	MaxExecTimeout     time.Duration
	MaxCodeBytes       int
	MaxOutputBytes     int // per stream and execution
	DefaultVCPUs       float64
	MaxVCPUs           float64
	DefaultMemoryMB    int
	MaxMemoryMB        int
	DefaultDiskMB      int
	MaxDiskMB          int
}

// DefaultLimits are the limits of `codeint dev`.
func DefaultLimits() Limits {
	return Limits{
		DefaultTimeout:     300 * time.Second,
		MaxTimeout:         30 * time.Minute,
		DefaultExecTimeout: 60 * time.Second,
		MaxExecTimeout:     30 * time.Minute,
		MaxCodeBytes:       1 << 20,
		MaxOutputBytes:     1 << 20,
		DefaultVCPUs:       1,
		MaxVCPUs:           8,
		DefaultMemoryMB:    512,
		MaxMemoryMB:        8192,
		DefaultDiskMB:      512,
		MaxDiskMB:          10240,
	}
}

// Template is an image sandboxes start from, with its default runtime and
// the most a sandbox of it may ask for (0 = the server's Limits).
type Template struct {
	Name        string
	Description string
	Runtime     string   // default runtime: RUNC or GVISOR
	Languages   []string // values of the Language enum it runs
	// Toolchains describe the languages: version, compiled or not.
	Toolchains  []Toolchain
	MaxVCPUs    float64
	MaxMemoryMB int
	MaxDiskMB   int
}

// Toolchain is one language of a template.
type Toolchain struct {
	Language string
	Version  string
	Compiled bool
}

// Runtimes a sandbox may ask for.
const (
	RuntimeRunc   = "RUNC"
	RuntimeGVisor = "GVISOR"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolved is a validated create request with the defaults filled in.
type resolved struct {
	template Template
	runtime  string
	regions  []string // preferred, best first; none = any, nearest first
	timeout  time.Duration
	vcpus    float64
	memoryMB int
	diskMB   int
	env      []structs.EnvVar
	metadata json.RawMessage
}

func invalid(format string, args ...any) error {
	return apperr.New(apperr.InvalidArgument, format, args...)
}

// resolveCreate checks in against the limits and the known templates and
// regions, and fills in defaults.
func (s *Service) resolveCreate(in CreateInput) (resolved, error) {
	l := s.cfg.Limits
	r := resolved{timeout: l.DefaultTimeout,
		vcpus: l.DefaultVCPUs, memoryMB: l.DefaultMemoryMB, diskMB: l.DefaultDiskMB}
	name := in.Template
	if name == "" {
		name = s.cfg.DefaultTemplate
	}
	tmpl, ok := s.template(name)
	if !ok {
		return r, invalid("unknown template %q; templates are %v", name, s.templateNames())
	}
	r.template = tmpl
	r.runtime = in.Runtime
	if r.runtime == "" {
		r.runtime = tmpl.Runtime
	}
	if r.runtime != RuntimeRunc && r.runtime != RuntimeGVisor {
		return r, invalid("unknown runtime %q; runtimes are RUNC and GVISOR", in.Runtime)
	}
	maxVCPUs, maxMem, maxDisk := l.MaxVCPUs, l.MaxMemoryMB, l.MaxDiskMB
	if tmpl.MaxVCPUs > 0 {
		maxVCPUs = min(maxVCPUs, tmpl.MaxVCPUs)
	}
	if tmpl.MaxMemoryMB > 0 {
		maxMem = min(maxMem, tmpl.MaxMemoryMB)
	}
	if tmpl.MaxDiskMB > 0 {
		maxDisk = min(maxDisk, tmpl.MaxDiskMB)
	}
	switch {
	case in.Region != "" && len(in.Regions) > 0:
		return r, invalid("give region (one region, no other) or regions (a preference list), not both")
	case in.Region != "":
		r.regions = []string{in.Region}
	case len(in.Regions) > 0:
		r.regions = slices.Clone(in.Regions)
	case s.cfg.Regions == nil:
		r.regions = []string{s.cfg.Region}
	}
	if in.MaxLatencyMs < 0 {
		return r, invalid("maxLatencyMs must be 0 (no bound) or more, got %g", in.MaxLatencyMs)
	}
	if in.TimeoutSeconds != nil {
		t := *in.TimeoutSeconds
		if t <= 0 || time.Duration(t)*time.Second > l.MaxTimeout {
			return r, invalid("timeoutSeconds must be between 1 and %d, got %d", int(l.MaxTimeout.Seconds()), t)
		}
		r.timeout = time.Duration(t) * time.Second
	}
	if in.VCPUs != nil {
		if v := *in.VCPUs; !(v > 0 && v <= maxVCPUs) {
			return r, invalid("vcpus must be above 0 and at most %g (the limit of template %s), got %g", maxVCPUs, tmpl.Name, v)
		}
		r.vcpus = *in.VCPUs
	}
	if in.MemoryMB != nil {
		if v := *in.MemoryMB; v < 64 || v > maxMem {
			return r, invalid("memoryMB must be between 64 and %d (the limit of template %s), got %d", maxMem, tmpl.Name, v)
		}
		r.memoryMB = *in.MemoryMB
	}
	if in.DiskMB != nil {
		if v := *in.DiskMB; v < 16 || v > maxDisk {
			return r, invalid("diskMB must be between 16 and %d (the limit of template %s), got %d", maxDisk, tmpl.Name, v)
		}
		r.diskMB = *in.DiskMB
	}
	env, err := checkEnv(in.Env)
	if err != nil {
		return r, err
	}
	r.env = env
	if len(in.Metadata) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(in.Metadata, &obj); err != nil {
			return r, invalid("metadata must be a JSON object: %v", err)
		}
		if len(in.Metadata) > 16<<10 {
			return r, invalid("metadata must be at most 16 KiB, got %d bytes", len(in.Metadata))
		}
		r.metadata = append(json.RawMessage(nil), in.Metadata...)
	}
	return r, nil
}

func checkEnv(env []structs.EnvVar) ([]structs.EnvVar, error) {
	if len(env) > 256 {
		return nil, invalid("at most 256 environment variables, got %d", len(env))
	}
	for _, e := range env {
		if !envName.MatchString(e.Name) {
			return nil, invalid("environment variable name %q is not valid (letters, digits and _; not starting with a digit)", e.Name)
		}
	}
	return append([]structs.EnvVar(nil), env...), nil
}

func (s *Service) template(name string) (Template, bool) {
	for _, t := range s.cfg.Templates {
		if t.Name == name {
			return t, true
		}
	}
	return Template{}, false
}

func (s *Service) templateNames() []string {
	names := make([]string, 0, len(s.cfg.Templates))
	for _, t := range s.cfg.Templates {
		names = append(names, t.Name)
	}
	return names
}

// resolveExec checks an execution request in a sandbox of template tmpl
// and returns its timeout.
func (s *Service) resolveExec(in ExecuteInput, tmpl string) (time.Duration, error) {
	l := s.cfg.Limits
	t, _ := s.template(tmpl)
	if !slices.Contains(t.Languages, in.Language) {
		return 0, invalid("language %q is not available in template %q; available: %s", in.Language, tmpl, strings.Join(t.Languages, ", "))
	}
	if in.Code == "" {
		return 0, invalid("code is empty")
	}
	if len(in.Code) > l.MaxCodeBytes {
		return 0, invalid("code is %d bytes; the limit is %d", len(in.Code), l.MaxCodeBytes)
	}
	if in.ContextID != "" && (len(in.Args) > 0 || in.Cwd != "" || in.CPUTimeLimit != nil) {
		return 0, invalid("args, cwd and cpuTimeLimitSeconds do not apply in context %q, which keeps its own working directory", in.ContextID)
	}
	if _, err := checkEnv(in.Env); err != nil {
		return 0, err
	}
	if err := checkArgs(in.Args, in.Cwd, l.MaxCodeBytes); err != nil {
		return 0, err
	}
	if in.CPUTimeLimit != nil && *in.CPUTimeLimit <= 0 {
		return 0, invalid("cpuTimeLimitSeconds must be at least 1, got %d", *in.CPUTimeLimit)
	}
	timeout := l.DefaultExecTimeout
	if in.TimeoutSeconds != nil {
		t := *in.TimeoutSeconds
		if t <= 0 || time.Duration(t)*time.Second > l.MaxExecTimeout {
			return 0, invalid("timeoutSeconds must be between 1 and %d, got %d", int(l.MaxExecTimeout.Seconds()), t)
		}
		timeout = time.Duration(t) * time.Second
	}
	return timeout, nil
}

// describeStopped says why a sandbox can no longer be used.
func describeStopped(sb *structs.Sandbox) error {
	reason := sb.StopReason
	if reason == "" {
		reason = "no reason recorded"
	}
	return apperr.New(apperr.FailedPrecondition, "sandbox %s is %s (%s); create a new one", sb.ID, sb.State, reason)
}

// maxArgs bounds the number of a program's arguments.
const maxArgs = 1024

// checkArgs checks an execution's arguments and working directory: at most
// maxArgs arguments of maxBytes together, no NUL, an absolute cwd.
func checkArgs(args []string, cwd string, maxBytes int) error {
	if len(args) > maxArgs {
		return invalid("%d args; the limit is %d", len(args), maxArgs)
	}
	total := 0
	for i, a := range args {
		if strings.ContainsRune(a, 0) {
			return invalid("args[%d] contains a NUL byte", i)
		}
		total += len(a)
	}
	if total > maxBytes {
		return invalid("args are %d bytes; the limit is %d", total, maxBytes)
	}
	if cwd != "" && (!strings.HasPrefix(cwd, "/") || strings.ContainsRune(cwd, 0)) {
		return invalid("cwd %q must be an absolute path", cwd)
	}
	return nil
}
