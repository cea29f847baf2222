package structs

import "time"

// UsageRecord is one metered interval of one sandbox, closed by the agent
// of its node. (NodeID, Seq) is its id: an agent numbers its records from
// 1 without gaps and never reuses a number, across restarts, so that the
// control plane can ingest each exactly once however often it is sent.
type UsageRecord struct {
	NodeID    string    `json:"nodeId"`
	Seq       uint64    `json:"seq"`
	SandboxID string    `json:"sandboxId"`
	TeamID    string    `json:"teamId"`
	Template  string    `json:"template,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// Allocated resources, for the whole interval.
	VCPUs    float64 `json:"vcpus"`
	MemoryMB int     `json:"memoryMB"`
	// Measured: CPU time used in the interval and the peak memory seen.
	CPUSeconds      float64 `json:"cpuSeconds"`
	PeakMemoryBytes int64   `json:"peakMemoryBytes"`
	// Final marks the sandbox's last record: it stopped at End.
	Final bool `json:"final,omitempty"`
}

// Seconds is the interval's length in seconds.
func (r UsageRecord) Seconds() float64 { return r.End.Sub(r.Start).Seconds() }
