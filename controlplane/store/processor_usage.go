package store

import (
	"cmp"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// usageIngest adds a batch of a node's usage records to the ledger,
// exactly once (command.UsageIngestRequest).
func (f *fsm) usageIngest(index uint64, r *command.UsageIngestRequest) any {
	if err := checkUsageBatch(r); err != nil {
		return err
	}
	recs := slices.Clone(r.Records)
	slices.SortFunc(recs, func(a, b structs.UsageRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	var res command.UsageIngestResult
	err := f.write(index, func(txn *state.WriteTxn) error {
		mark := structs.UsageMark{ID: r.NodeID}
		if cur := txn.UsageMark(r.NodeID); cur != nil {
			mark = *cur
		}
		l := newLedgerBatch(txn)
		for i, rec := range recs {
			if rec.Seq <= mark.Seq {
				res.Duplicates++
				continue
			}
			if rec.Seq > mark.Seq+1 {
				res.Refused = len(recs) - i
				break
			}
			if skewed(rec, r.At) {
				res.Flagged++
				mark.Flagged++
			}
			if rec.End.Before(rec.Start) {
				rec.End = rec.Start // counted as no time; flagged above
			}
			l.add(rec)
			mark.Seq = rec.Seq
			res.Applied++
		}
		if err := l.commit(); err != nil {
			return err
		}
		mark.UpdatedAt = r.At
		res.Seq = mark.Seq
		return txn.UpsertUsageMark(&mark)
	})
	if err != nil {
		return err
	}
	return &res
}

// checkUsageBatch refuses a batch that no order of arrival makes right.
func checkUsageBatch(r *command.UsageIngestRequest) error {
	switch {
	case r.NodeID == "":
		return apperr.New(apperr.InvalidArgument, "usage ingest: the batch names no node")
	case r.At.IsZero():
		return apperr.New(apperr.InvalidArgument, "usage ingest of node %s: the command has no time", r.NodeID)
	}
	for _, rec := range r.Records {
		switch {
		case rec.NodeID != r.NodeID:
			return apperr.New(apperr.InvalidArgument, "usage ingest of node %s: record %d is of node %q", r.NodeID, rec.Seq, rec.NodeID)
		case rec.Seq == 0:
			return apperr.New(apperr.InvalidArgument, "usage ingest of node %s: a record without a sequence number", r.NodeID)
		case rec.SandboxID == "":
			return apperr.New(apperr.InvalidArgument, "usage ingest of node %s: record %d names no sandbox", r.NodeID, rec.Seq)
		case rec.VCPUs < 0 || rec.MemoryMB < 0 || rec.CPUSeconds < 0 || rec.PeakMemoryBytes < 0:
			return apperr.New(apperr.InvalidArgument, "usage ingest of node %s: record %d has a negative amount", r.NodeID, rec.Seq)
		}
	}
	return nil
}

// skewed reports whether a record's clock is off beyond the bound: it ends
// after the leader's clock plus the bound, or before it starts.
func skewed(rec structs.UsageRecord, at time.Time) bool {
	return rec.End.After(at.Add(command.UsageSkewBound)) || rec.End.Before(rec.Start)
}

// ledgerBatch adds a batch's records to the sandboxes' totals and the
// teams' hourly buckets, each touched row read once and written once.
type ledgerBatch struct {
	txn       *state.WriteTxn
	sandboxes map[string]*structs.SandboxUsage
	buckets   map[string]*structs.UsageBucket
}

func newLedgerBatch(txn *state.WriteTxn) *ledgerBatch {
	return &ledgerBatch{txn: txn, sandboxes: map[string]*structs.SandboxUsage{}, buckets: map[string]*structs.UsageBucket{}}
}

// add adds one record to its sandbox's total and to its team's buckets,
// split at hour boundaries.
func (l *ledgerBatch) add(rec structs.UsageRecord) {
	su := l.sandboxes[rec.SandboxID]
	if su == nil {
		su = &structs.SandboxUsage{ID: rec.SandboxID, TeamID: rec.TeamID, Template: rec.Template, NodeID: rec.NodeID, First: rec.Start}
		if cur := l.txn.SandboxUsage(rec.SandboxID); cur != nil {
			c := *cur
			su = &c
		}
		l.sandboxes[rec.SandboxID] = su
	}
	su.UsageTotals.Add(rec, rec.Start, rec.End)
	su.Records++
	if rec.Start.Before(su.First) {
		su.First = rec.Start
	}
	if rec.End.After(su.Last) {
		su.Last = rec.End
	}
	su.Final = su.Final || rec.Final
	su.PeakMemoryBytes = max(su.PeakMemoryBytes, rec.PeakMemoryBytes)
	// Every hour the record overlaps (the hour of its start at least, for
	// a record of no length) gets its share.
	for h := rec.Start.UTC().Truncate(time.Hour); ; h = h.Add(time.Hour) {
		b := l.bucket(rec.TeamID, h)
		b.UsageTotals.Add(rec, maxTime(h, rec.Start), minTime(h.Add(time.Hour), rec.End))
		b.Records++
		if !h.Add(time.Hour).Before(rec.End) {
			return
		}
	}
}

func (l *ledgerBatch) bucket(team string, hour time.Time) *structs.UsageBucket {
	id := structs.BucketID(team, hour)
	b := l.buckets[id]
	if b == nil {
		b = &structs.UsageBucket{ID: id, TeamID: team, Hour: hour}
		if cur := l.txn.UsageBucket(id); cur != nil {
			c := *cur
			b = &c
		}
		l.buckets[id] = b
	}
	return b
}

// commit writes every touched row.
func (l *ledgerBatch) commit() error {
	for _, su := range l.sandboxes {
		if err := l.txn.UpsertSandboxUsage(su); err != nil {
			return err
		}
	}
	for _, b := range l.buckets {
		if err := l.txn.UpsertUsageBucket(b); err != nil {
			return err
		}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// exportCursor moves an exporter's cursor forward, never back.
func (f *fsm) exportCursor(index uint64, r *command.ExportCursorRequest) any {
	if r.Exporter == "" {
		return apperr.New(apperr.InvalidArgument, "export cursor: no exporter named")
	}
	out := structs.ExportCursor{ID: r.Exporter, Hour: r.Hour.UTC(), UpdatedAt: r.At}
	err := f.write(index, func(txn *state.WriteTxn) error {
		if cur := txn.ExportCursor(r.Exporter); cur != nil && !r.Hour.After(cur.Hour) {
			out = *cur // an old leader's late save: the cursor stays
		}
		return txn.UpsertExportCursor(&out)
	})
	return result(&out, err)
}

// regionUsage records regions' usage reports, each exactly once
// (command.RegionUsageRequest).
func (f *fsm) regionUsage(index uint64, r *command.RegionUsageRequest) any {
	if err := checkRegionReports(r); err != nil {
		return err
	}
	var res command.RegionUsageResult
	err := f.write(index, func(txn *state.WriteTxn) error {
		for _, rep := range r.Reports {
			applied, err := txn.ApplyRegionReport(rep, r.At)
			if err != nil {
				return err
			}
			if !applied {
				res.Stale++
				continue
			}
			res.Applied++
			res.Months += len(rep.Months)
		}
		return nil
	})
	return result(&res, err)
}

// checkRegionReports refuses reports that no order of arrival makes right.
func checkRegionReports(r *command.RegionUsageRequest) error {
	if r.At.IsZero() {
		return apperr.New(apperr.InvalidArgument, "region usage: the command has no time")
	}
	seen := map[string]bool{}
	for _, rep := range r.Reports {
		switch {
		case rep.Region == "":
			return apperr.New(apperr.InvalidArgument, "region usage: a report names no region")
		case rep.AsOf == 0:
			return apperr.New(apperr.InvalidArgument, "region usage of %s: the report has no index", rep.Region)
		case seen[rep.Region]:
			return apperr.New(apperr.InvalidArgument, "region usage of %s: two reports in one command", rep.Region)
		}
		seen[rep.Region] = true
		for _, m := range rep.Months {
			t := m.UsageTotals
			switch {
			case m.Region != rep.Region:
				return apperr.New(apperr.InvalidArgument, "region usage of %s: a total of region %q", rep.Region, m.Region)
			case m.TeamID == "":
				return apperr.New(apperr.InvalidArgument, "region usage of %s: a total names no team", rep.Region)
			case m.Month.IsZero():
				return apperr.New(apperr.InvalidArgument, "region usage of %s: team %s's total names no month", rep.Region, m.TeamID)
			case m.AsOf == 0:
				return apperr.New(apperr.InvalidArgument, "region usage of %s: team %s's total has no index", rep.Region, m.TeamID)
			case m.AsOf > rep.AsOf:
				return apperr.New(apperr.InvalidArgument, "region usage of %s: team %s's total is as of %d, after the report (%d)", rep.Region, m.TeamID, m.AsOf, rep.AsOf)
			case t.SandboxSeconds < 0 || t.VCPUSeconds < 0 || t.GiBSeconds < 0 || t.CPUSeconds < 0 || t.MaxVCPUSeconds < 0 || t.MaxGiBSeconds < 0 || t.Records < 0:
				return apperr.New(apperr.InvalidArgument, "region usage of %s: team %s's total has a negative amount", rep.Region, m.TeamID)
			}
		}
	}
	return nil
}
