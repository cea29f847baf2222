package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// DefaultUsageInterval is how often a region's leader reports its usage.
const DefaultUsageInterval = 5 * time.Second

// reportLoop, while this server leads its region, reports the region's
// monthly usage totals every UsageInterval (reportOnce). What was
// acknowledged is remembered for the term of the leadership; a server
// that becomes leader reports every total once again, which changes
// nothing where it is already held.
func (f *Federation) reportLoop(ctx context.Context) {
	var acked map[string]structs.UsageTotals // month id → the total the authoritative region holds; nil while not leading
	failing := false
	for ctx.Err() == nil {
		sleep(ctx, f.cfg.UsageInterval)
		if !f.cfg.Local.IsLeader() {
			acked = nil
			continue
		}
		if acked == nil {
			acked = map[string]structs.UsageTotals{}
		}
		err := f.reportOnce(ctx, acked)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			f.log.Warn("reporting usage to the authoritative region failed; metering goes on and the report is retried", "event", "usage_report_failed", "error", err)
		case err == nil && failing:
			f.log.Info("usage reports reach the authoritative region again", "event", "usage_report_resumed")
		}
		failing = err != nil
	}
}

// reportOnce reports the totals that changed since the last acknowledged
// report. The authoritative region records its own report in its Raft;
// another region sends it there (ReportUsage) and records the other
// regions' totals that come back.
func (f *Federation) reportOnce(ctx context.Context, acked map[string]structs.UsageTotals) error {
	snap := f.cfg.Local.State().Snapshot()
	rep := changedMonths(f.cfg.Region, snap, acked)
	if f.IsAuthoritative() {
		if len(rep.Months) == 0 || !f.federated() {
			return nil // nothing new, or no other region to charge with it
		}
		req := command.RegionUsageRequest{Reports: []structs.RegionReport{rep}, At: time.Now()}
		if _, err := f.cfg.Local.Apply(ctx, command.RegionUsage, req); err != nil {
			return fmt.Errorf("record this region's usage: %w", err)
		}
		ack(acked, rep)
		return nil
	}
	known := map[string]uint64{}
	for _, m := range snap.RegionMarks() {
		known[m.ID] = m.AsOf
	}
	reply, err := f.sendReport(ctx, rep, known)
	if err != nil {
		return err
	}
	ack(acked, rep)
	var others []structs.RegionReport
	if err := json.Unmarshal(reply.GetReports(), &others); err != nil {
		return fmt.Errorf("the other regions' usage: %w", err)
	}
	if len(others) == 0 {
		return nil
	}
	req := command.RegionUsageRequest{Reports: others, At: time.Now()}
	if _, err := f.cfg.Local.Apply(ctx, command.RegionUsage, req); err != nil {
		return fmt.Errorf("record the other regions' usage: %w", err)
	}
	return nil
}

// changedMonths is the report of region's totals in snap that differ
// from acked. A total a hair below zero (floating-point rounding of
// buckets added and taken away) is reported as zero.
func changedMonths(region string, snap *state.Snapshot, acked map[string]structs.UsageTotals) structs.RegionReport {
	rep := structs.RegionReport{Region: region, AsOf: snap.Index()}
	for _, m := range snap.AllUsageMonths() {
		t := nonNegative(m.UsageTotals)
		if prev, ok := acked[m.ID]; ok && prev == t {
			continue
		}
		rep.Months = append(rep.Months, structs.RegionUsage{Region: region, TeamID: m.TeamID, Month: m.Month, AsOf: rep.AsOf, UsageTotals: t})
	}
	return rep
}

func nonNegative(t structs.UsageTotals) structs.UsageTotals {
	t.SandboxSeconds, t.VCPUSeconds, t.GiBSeconds = max(0, t.SandboxSeconds), max(0, t.VCPUSeconds), max(0, t.GiBSeconds)
	t.CPUSeconds, t.MaxVCPUSeconds, t.MaxGiBSeconds = max(0, t.CPUSeconds), max(0, t.MaxVCPUSeconds), max(0, t.MaxGiBSeconds)
	t.Records = max(0, t.Records)
	return t
}

// ack remembers the totals of a report the authoritative region took.
func ack(acked map[string]structs.UsageTotals, rep structs.RegionReport) {
	for _, m := range rep.Months {
		acked[structs.MonthID(m.TeamID, m.Month)] = m.UsageTotals
	}
}

// federated reports whether this server has heard of another region.
func (f *Federation) federated() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.servers {
		if p.region != "" && p.region != f.cfg.Region && !p.refused {
			return true
		}
	}
	return false
}

// sendReport sends a report to the authoritative region.
func (f *Federation) sendReport(ctx context.Context, rep structs.RegionReport, known map[string]uint64) (*serverpb.ReportUsageReply, error) {
	payload, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	var reply *serverpb.ReportUsageReply
	err = f.onAuthoritative(ctx, func(ctx context.Context, c serverpb.ServerClient) error {
		rctx, cancel := context.WithTimeout(ctx, f.cfg.UsageInterval+probeTimeout)
		defer cancel()
		r, err := c.ReportUsage(rctx, &serverpb.ReportUsageRequest{Caller: f.caller(), Report: payload, Known: known})
		if err != nil && rctx.Err() != nil && ctx.Err() == nil {
			return apperr.New(apperr.Unavailable, "no answer within %v", f.cfg.UsageInterval+probeTimeout)
		}
		reply = r
		return err
	})
	return reply, err
}

// ReportUsage records another region's usage report (this region is the
// authoritative one) and answers with the other regions' totals the
// caller does not hold yet.
func (f *Federation) ReportUsage(ctx context.Context, req *serverpb.ReportUsageRequest) (*serverpb.ReportUsageReply, error) {
	if err := f.checkCaller(req.GetCaller()); err != nil {
		return nil, err
	}
	if !f.IsAuthoritative() {
		return nil, apperr.New(apperr.FailedPrecondition, "region %s is not authoritative; report usage to %s", f.cfg.Region, f.cfg.Authoritative)
	}
	var rep structs.RegionReport
	if err := json.Unmarshal(req.GetReport(), &rep); err != nil {
		return nil, apperr.New(apperr.InvalidArgument, "usage report: %v", err)
	}
	caller := req.GetCaller().GetRegion()
	if rep.Region != caller || caller == f.cfg.Region {
		return nil, apperr.New(apperr.InvalidArgument, "region %q may report only its own usage, not region %q's", caller, rep.Region)
	}
	if len(rep.Months) > 0 { // an empty report only asks for the others'
		req := command.RegionUsageRequest{Reports: []structs.RegionReport{rep}, At: time.Now()}
		if _, err := f.cfg.Local.Apply(ctx, command.RegionUsage, req); err != nil {
			return nil, err
		}
	}
	snap := f.cfg.Local.State().Snapshot()
	others, err := json.Marshal(reportsNewerThan(snap, req.GetKnown(), caller))
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	return &serverpb.ReportUsageReply{Reports: others}, nil
}

// reportsNewerThan is, for every region but except, its totals that
// changed after the index known holds for it, as one report per region as
// of its mark.
func reportsNewerThan(snap *state.Snapshot, known map[string]uint64, except string) []structs.RegionReport {
	var out []structs.RegionReport
	byRegion := map[string]int{} // region → its report's place in out
	for _, m := range snap.RegionMarks() {
		if m.ID != except && m.AsOf > known[m.ID] {
			byRegion[m.ID] = len(out)
			out = append(out, structs.RegionReport{Region: m.ID, AsOf: m.AsOf})
		}
	}
	for _, u := range snap.AllRegionUsages() {
		if i, ok := byRegion[u.Region]; ok && u.AsOf > known[u.Region] {
			out[i].Months = append(out[i].Months, *u)
		}
	}
	return out
}
