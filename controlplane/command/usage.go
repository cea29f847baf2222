package command

import (
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
