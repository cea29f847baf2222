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

// UsageMark is a node's ingest high-water mark: every record of the node
// with a sequence up to Seq is in the ledger, and no other.
type UsageMark struct {
	ID        string    `json:"id"` // the node's id
	Seq       uint64    `json:"seq"`
	Flagged   int       `json:"flagged,omitempty"` // records whose clock was off beyond the bound
	UpdatedAt time.Time `json:"updatedAt"`
}

// UsageTotals are amounts of usage. Allocated amounts are what was
// reserved; Max amounts take, record by record, the larger of what was
// allocated and what was used (a plan may bill on either).
type UsageTotals struct {
	SandboxSeconds float64 `json:"sandboxSeconds"`
	VCPUSeconds    float64 `json:"vcpuSeconds"`
	GiBSeconds     float64 `json:"gibSeconds"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	MaxVCPUSeconds float64 `json:"maxVcpuSeconds"`
	MaxGiBSeconds  float64 `json:"maxGibSeconds"`
	Records        int     `json:"records"`
}

// Add adds the usage of the part [from, to) of record r; CPU time is
// spread evenly over the record.
func (t *UsageTotals) Add(r UsageRecord, from, to time.Time) {
	total := r.Seconds()
	secs := to.Sub(from).Seconds()
	if secs <= 0 {
		return
	}
	share := 1.0
	if total > 0 {
		share = secs / total
	}
	cpu := r.CPUSeconds * share
	gib := float64(r.MemoryMB) / 1024
	usedGiB := float64(r.PeakMemoryBytes) / (1 << 30)
	t.SandboxSeconds += secs
	t.VCPUSeconds += secs * r.VCPUs
	t.GiBSeconds += secs * gib
	t.CPUSeconds += cpu
	t.MaxVCPUSeconds += max(secs*r.VCPUs, cpu)
	t.MaxGiBSeconds += secs * max(gib, usedGiB)
}

// SandboxUsage is the ledger's total for one sandbox.
type SandboxUsage struct {
	ID              string    `json:"id"` // the sandbox's id
	TeamID          string    `json:"teamId"`
	Template        string    `json:"template,omitempty"`
	NodeID          string    `json:"nodeId"`
	First           time.Time `json:"first"` // start of its earliest record
	Last            time.Time `json:"last"`  // end of its latest record
	Final           bool      `json:"final,omitempty"`
	PeakMemoryBytes int64     `json:"peakMemoryBytes"`
	UsageTotals
}

// UsageBucket is the ledger's total for one team and one hour (UTC).
type UsageBucket struct {
	ID     string    `json:"id"` // BucketID(team, hour)
	TeamID string    `json:"teamId"`
	Hour   time.Time `json:"hour"`
	UsageTotals
}

// BucketID names the bucket of a team and an hour; ids of one team sort
// by hour.
func BucketID(teamID string, hour time.Time) string {
	return teamID + "/" + hour.UTC().Truncate(time.Hour).Format("2006-01-02T15")
}

// Plus adds o to t, sign times (1 adds, -1 takes away).
func (t *UsageTotals) Plus(o UsageTotals, sign int) {
	f := float64(sign)
	t.SandboxSeconds += f * o.SandboxSeconds
	t.VCPUSeconds += f * o.VCPUSeconds
	t.GiBSeconds += f * o.GiBSeconds
	t.CPUSeconds += f * o.CPUSeconds
	t.MaxVCPUSeconds += f * o.MaxVCPUSeconds
	t.MaxGiBSeconds += f * o.MaxGiBSeconds
	t.Records += sign * o.Records
}

// UsageMonth is a team's usage in one calendar month (UTC): the sum of
// its hourly buckets, which the state keeps as buckets change, so that a
// balance is charged from a few months rather than thousands of hours.
// It is derived data: snapshots leave it out and a restore rebuilds it.
type UsageMonth struct {
	ID     string    `json:"id"` // MonthID(team, month)
	TeamID string    `json:"teamId"`
	Month  time.Time `json:"month"` // its first instant, UTC
	UsageTotals
}

// NewUsageMonth is the empty total of a team's month of t.
func NewUsageMonth(teamID string, t time.Time) *UsageMonth {
	return &UsageMonth{ID: MonthID(teamID, t), TeamID: teamID, Month: MonthOf(t)}
}

// MonthOf is the start of t's calendar month, UTC.
func MonthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// MonthID names the month total of a team and the month of t; ids of one
// team sort by month.
func MonthID(teamID string, t time.Time) string {
	return teamID + "/" + MonthOf(t).Format("2006-01")
}

// ExportCursor is how far an exporter of usage (S3, Stripe) has got: the
// start of the last hour it exported in full. It is in Raft so that a new
// leader's exporter carries on where the old one stopped.
type ExportCursor struct {
	ID        string    `json:"id"` // the exporter's name, e.g. "s3"
	Hour      time.Time `json:"hour"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// RegionUsage is another region's usage of a team in one calendar month,
// as that region last reported it (usage stays in the region where it
// happened; regions report monthly totals, so that a team's budget is
// charged for all of them). AsOf is the reporting region's state index at
// which the total last changed.
type RegionUsage struct {
	ID     string    `json:"id"` // RegionUsageID(region, team, month)
	Region string    `json:"region"`
	TeamID string    `json:"teamId"`
	Month  time.Time `json:"month"` // its first instant, UTC
	AsOf   uint64    `json:"asOf"`
	UsageTotals
}

// RegionUsageID names a region's total of a team and the month of t.
func RegionUsageID(region, teamID string, t time.Time) string {
	return region + "/" + MonthID(teamID, t)
}

// RegionMark is how far a region's reports have got: its totals as of its
// state index AsOf are held. A report as of an index at or below it is
// stale (a replay, or overtaken by a later one) and changes nothing.
type RegionMark struct {
	ID        string    `json:"id"` // the region
	AsOf      uint64    `json:"asOf"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// RegionReport is one region's monthly totals as of its state index AsOf:
// the totals that changed since an earlier report (a report need not
// repeat the others). Totals are cumulative, so applying a report twice
// changes nothing.
type RegionReport struct {
	Region string        `json:"region"`
	AsOf   uint64        `json:"asOf"`
	Months []RegionUsage `json:"months,omitempty"`
}
