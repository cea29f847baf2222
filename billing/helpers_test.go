package billing

import (
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

var t0 = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

// rec is a record of sandbox sb from second from, lasting d, with vcpus
// and mib allocated and nothing measured.
func rec(sb string, from, d time.Duration, vcpus float64, mib int, final bool) structs.UsageRecord {
	return structs.UsageRecord{
		NodeID: "n1", TeamID: "team", SandboxID: sb,
		Start: t0.Add(from), End: t0.Add(from + d),
		VCPUs: vcpus, MemoryMB: mib, Final: final,
	}
}

// used sets the measures of r.
func used(r structs.UsageRecord, cpuSeconds float64, peakBytes int64) structs.UsageRecord {
	r.CPUSeconds, r.PeakMemoryBytes = cpuSeconds, peakBytes
	return r
}

const (
	sec = time.Second
	MiB = 1 << 20
)

// planWith is the default plan changed by f.
func planWith(f func(*Plan)) Plan {
	p := DefaultPlan()
	f(&p)
	return p
}

// vcpuSeconds is n vCPU-seconds as a Quantity.
func vcpuSeconds(n int64) Quantity { return Quantity{VCPUMicroseconds: n * 1_000_000} }

// gibSeconds is n GiB-seconds as a Quantity.
func gibSeconds(n int64) Quantity { return Quantity{MiBMilliseconds: n * 1_024_000} }
