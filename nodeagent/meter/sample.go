package meter

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/codeint/codeint/nodeagent/runc"
)

// Sample is one reading of a sandbox's resource use.
type Sample struct {
	// CPU is the CPU time the sandbox's processes used since its cgroup
	// was created: a cumulative counter. A value below the previous one is
	// taken as a counter reset (counted again from zero).
	CPU time.Duration
	// MemoryBytes is the memory charged to the sandbox now.
	MemoryBytes int64
	// PeakMemoryBytes is the highest memory ever charged to the sandbox as
	// the kernel records it (cgroup v1 memory.max_usage_in_bytes, v2
	// memory.peak); 0 where the kernel does not keep one. The Meter counts
	// it into an interval only when it changed since the previous sample.
	PeakMemoryBytes int64
}

// Sampler reads the resource use of a running sandbox.
// It must be safe for concurrent use.
type Sampler interface {
	Sample(sandboxID string) (Sample, error)
}

// SamplerFunc adapts a function to a Sampler.
type SamplerFunc func(sandboxID string) (Sample, error)

// Sample calls f.
func (f SamplerFunc) Sample(sandboxID string) (Sample, error) { return f(sandboxID) }

// ErrNoCgroup is returned by the sampler of CgroupSampler for a sandbox
// the lookup does not know or whose cgroup reads as gone.
var ErrNoCgroup = errors.New("meter: no cgroup for sandbox")

// CgroupSampler samples sandboxes through their cgroups (v1 or v2, see
// runc.Cgroup.Stats); lookup returns a sandbox's cgroup.
//
// A cgroup that reads zero CPU time and zero memory is taken as gone
// (cgroup v1 reads a removed cgroup's missing files as zeros) and
// answered with ErrNoCgroup: a running sandbox always has envd in it.
func CgroupSampler(lookup func(sandboxID string) (*runc.Cgroup, bool)) Sampler {
	return SamplerFunc(func(id string) (Sample, error) {
		cg, ok := lookup(id)
		if !ok || cg == nil {
			return Sample{}, fmt.Errorf("%w %s", ErrNoCgroup, id)
		}
		st, err := cg.Usage()
		if err != nil {
			return Sample{}, fmt.Errorf("meter: sample %s: %w", id, err)
		}
		if st.CPU == 0 && st.MemoryBytes == 0 {
			return Sample{}, fmt.Errorf("%w %s: it reads all zeros", ErrNoCgroup, id)
		}
		return Sample{CPU: st.CPU, MemoryBytes: toInt64(st.MemoryBytes), PeakMemoryBytes: toInt64(st.PeakMemoryBytes)}, nil
	})
}

func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
