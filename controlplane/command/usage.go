package command

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// UsageSkewBound is how far a record's end may lie after the leader's
// clock (At) before the record is flagged: agents' clocks drift, and a
// record from the future is counted but reported.
const UsageSkewBound = 2 * time.Minute

// UsageIngestRequest commits a batch of one node's usage records into the
// ledger, exactly once: records at or below the node's high-water mark are
// duplicates and skipped; a record after a gap (its predecessor not yet
// ingested, a batch overtaken by a later one) is refused with the rest of
// the batch, to be sent again in order. At is the leader's clock.
type UsageIngestRequest struct {
	NodeID  string
	Records []structs.UsageRecord
	At      time.Time
}

// UsageIngestResult says what a batch did. Seq is the node's high-water
// mark after it: the agent may forget every record up to it.
type UsageIngestResult struct {
	Seq        uint64 `json:"seq"`
	Applied    int    `json:"applied"`
	Duplicates int    `json:"duplicates"`
	Refused    int    `json:"refused"`
	Flagged    int    `json:"flagged"`
}

// usageWire is how a UsageIngestRequest is written to the Raft log: each
// record a row of integers beside one table of the strings they name (node,
// sandbox, team and template ids), which encodes smaller and decodes
// several times faster than objects with RFC 3339 times. Amounts keep
// their precision: vCPUs to the thousandth, CPU time to the microsecond.
type usageWire struct {
	NodeID  string    `json:"n"`
	At      time.Time `json:"at"`
	Strings []string  `json:"s,omitempty"`
	Rows    [][]int64 `json:"r,omitempty"`
}

// The columns of a row.
const (
	colSeq = iota
	colNode
	colSandbox
	colTeam
	colTemplate
	colStart    // Unix nanoseconds; 0 for a zero time
	colEnd      // Unix nanoseconds; 0 for a zero time
	colVCPUs    // thousandths
	colMemoryMB //
	colCPU      // microseconds
	colPeak     // bytes
	colFinal    // 1 or 0
	numCols
)

// MarshalJSON writes the request in its wire form.
func (r UsageIngestRequest) MarshalJSON() ([]byte, error) {
	w := usageWire{NodeID: r.NodeID, At: r.At}
	index := map[string]int64{}
	str := func(s string) int64 {
		i, ok := index[s]
		if !ok {
			i = int64(len(w.Strings))
			index[s] = i
			w.Strings = append(w.Strings, s)
		}
		return i
	}
	w.Rows = make([][]int64, len(r.Records))
	for i, rec := range r.Records {
		row := make([]int64, numCols)
		row[colSeq] = int64(rec.Seq)
		row[colNode], row[colSandbox], row[colTeam], row[colTemplate] = str(rec.NodeID), str(rec.SandboxID), str(rec.TeamID), str(rec.Template)
		row[colStart], row[colEnd] = unixNanos(rec.Start), unixNanos(rec.End)
		row[colVCPUs] = int64(math.Round(rec.VCPUs * 1000))
		row[colMemoryMB] = int64(rec.MemoryMB)
		row[colCPU] = int64(math.Round(rec.CPUSeconds * 1e6))
		row[colPeak] = rec.PeakMemoryBytes
		if rec.Final {
			row[colFinal] = 1
		}
		w.Rows[i] = row
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the wire form.
func (r *UsageIngestRequest) UnmarshalJSON(b []byte) error {
	var w usageWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	str := func(i int64) (string, error) {
		if i < 0 || i >= int64(len(w.Strings)) {
			return "", fmt.Errorf("usage batch: string %d of %d", i, len(w.Strings))
		}
		return w.Strings[i], nil
	}
	r.NodeID, r.At, r.Records = w.NodeID, w.At, make([]structs.UsageRecord, len(w.Rows))
	for i, row := range w.Rows {
		if len(row) != numCols {
			return fmt.Errorf("usage batch: row %d has %d columns, want %d", i, len(row), numCols)
		}
		var ids [4]string
		for j, col := range []int{colNode, colSandbox, colTeam, colTemplate} {
			s, err := str(row[col])
			if err != nil {
				return err
			}
			ids[j] = s
		}
		r.Records[i] = structs.UsageRecord{Seq: uint64(row[colSeq]), NodeID: ids[0], SandboxID: ids[1], TeamID: ids[2], Template: ids[3],
			Start: fromUnixNanos(row[colStart]), End: fromUnixNanos(row[colEnd]), VCPUs: float64(row[colVCPUs]) / 1000,
			MemoryMB: int(row[colMemoryMB]), CPUSeconds: float64(row[colCPU]) / 1e6, PeakMemoryBytes: row[colPeak],
			Final: row[colFinal] == 1}
	}
	return nil
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ExportCursorRequest moves an exporter's cursor forward to Hour (the start
// of the last hour it exported in full). A cursor never moves back: a
// request for an earlier hour (an old leader's, late) leaves it. The
// result is the cursor as it is after the entry.
type ExportCursorRequest struct {
	Exporter string    `json:"exporter"`
	Hour     time.Time `json:"hour"`
	At       time.Time `json:"at"`
}

// RegionUsageRequest records regions' usage reports (structs.RegionReport):
// in the authoritative region a region's own report, elsewhere the other
// regions' reports as the authoritative region holds them. A report at or
// below its region's mark is stale and skipped. At is the leader's clock.
type RegionUsageRequest struct {
	Reports []structs.RegionReport `json:"reports"`
	At      time.Time              `json:"at"`
}

// RegionUsageResult says what the reports did.
type RegionUsageResult struct {
	Applied int `json:"applied"` // reports recorded
	Stale   int `json:"stale"`   // reports skipped
	Months  int `json:"months"`  // totals written
}
