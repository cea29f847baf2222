package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// usageRec is record seq of node, of sandbox sb_1 (team_a, 1 vCPU, 512
// MB), starting at start and lasting secs seconds, with half a CPU used.
func usageRec(node string, seq uint64, start time.Time, secs int) structs.UsageRecord {
	d := time.Duration(secs) * time.Second
	return structs.UsageRecord{NodeID: node, Seq: seq, SandboxID: "sb_1", TeamID: "team_a", Template: "base",
		Start: start, End: start.Add(d), VCPUs: 1, MemoryMB: 512, CPUSeconds: float64(secs) / 2, PeakMemoryBytes: 100 << 20}
}

// recs are records first..last of node n1, 10 s each, back to back from t0.
func recs(first, last uint64) []structs.UsageRecord {
	var out []structs.UsageRecord
	for s := first; s <= last; s++ {
		out = append(out, usageRec("n1", s, t0.Add(time.Duration(s-1)*10*time.Second), 10))
	}
	return out
}

func ingest(t *testing.T, tf *testFSM, rs []structs.UsageRecord) *command.UsageIngestResult {
	t.Helper()
	return tf.mustDo(t, command.UsageIngest, &command.UsageIngestRequest{NodeID: "n1", Records: rs, At: t0.Add(time.Hour)}).(*command.UsageIngestResult)
}

func TestUsageIngestExactlyOnce(t *testing.T) {
	tf := newTestFSM(t)
	if r := ingest(t, tf, recs(1, 3)); r.Applied != 3 || r.Seq != 3 || r.Duplicates != 0 {
		t.Fatalf("first batch: %+v", r)
	}
	// The same batch again (a retry whose answer was lost) changes nothing
	// but the log index.
	if r := ingest(t, tf, recs(1, 3)); r.Applied != 0 || r.Duplicates != 3 || r.Seq != 3 {
		t.Fatalf("replayed batch: %+v", r)
	}
	su := tf.state.Snapshot().SandboxUsage("sb_1")
	if su.SandboxSeconds != 30 || su.VCPUSeconds != 30 || su.GiBSeconds != 15 || su.CPUSeconds != 15 || su.Records != 3 {
		t.Fatalf("sandbox total after a replay: %+v", su)
	}
	// An overlapping batch applies only what is new.
	if r := ingest(t, tf, recs(2, 5)); r.Applied != 2 || r.Duplicates != 2 || r.Seq != 5 {
		t.Fatalf("overlapping batch: %+v", r)
	}
	// A batch that overtook an earlier one is refused whole and comes
	// again after it: nothing is skipped, nothing counted twice.
	if r := ingest(t, tf, recs(8, 9)); r.Applied != 0 || r.Refused != 2 || r.Seq != 5 {
		t.Fatalf("batch after a gap: %+v", r)
	}
	// Shuffled inside a batch: applied in order.
	shuffled := recs(6, 9)
	shuffled[0], shuffled[3] = shuffled[3], shuffled[0]
	if r := ingest(t, tf, shuffled); r.Applied != 4 || r.Seq != 9 {
		t.Fatalf("shuffled batch: %+v", r)
	}
	su = tf.state.Snapshot().SandboxUsage("sb_1")
	if su.SandboxSeconds != 90 || su.Records != 9 || !su.First.Equal(t0) || !su.Last.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("sandbox total: %+v", su)
	}
	b := tf.state.Snapshot().UsageBuckets("team_a", t0.Add(-time.Hour), t0.Add(time.Hour))
	if len(b) != 1 || b[0].SandboxSeconds != 90 || b[0].VCPUSeconds != 90 || b[0].Records != 9 {
		t.Fatalf("buckets: %+v", b)
	}
}

func TestUsageIngestSplitsHours(t *testing.T) {
	tf := newTestFSM(t)
	start := time.Date(2026, 11, 27, 10, 59, 30, 0, time.UTC)
	r := usageRec("n1", 1, start, 90) // 10:59:30 – 11:01:00
	r.Final = true
	ingest(t, tf, []structs.UsageRecord{r})
	b := tf.state.Snapshot().UsageBuckets("team_a", start.Add(-time.Hour), start.Add(2*time.Hour))
	if len(b) != 2 || b[0].SandboxSeconds != 30 || b[1].SandboxSeconds != 60 || b[0].CPUSeconds != 15 || b[1].CPUSeconds != 30 ||
		!b[0].Hour.Equal(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("buckets: %+v", b)
	}
	if su := tf.state.Snapshot().SandboxUsage("sb_1"); !su.Final || su.SandboxSeconds != 90 {
		t.Fatalf("sandbox total: %+v", su)
	}
}

// Max totals take, record by record, the larger of allocated and used.
func TestUsageMaxOfUsed(t *testing.T) {
	tf := newTestFSM(t)
	r := usageRec("n1", 1, t0, 10)
	r.CPUSeconds, r.PeakMemoryBytes = 20, 1<<30 // 2 CPUs busy on 1 allocated; 1 GiB peak on 512 MB
	ingest(t, tf, []structs.UsageRecord{r})
	su := tf.state.Snapshot().SandboxUsage("sb_1")
	if su.MaxVCPUSeconds != 20 || su.MaxGiBSeconds != 10 || su.VCPUSeconds != 10 || su.GiBSeconds != 5 {
		t.Fatalf("totals: %+v", su.UsageTotals)
	}
}

func TestUsageIngestFlagsSkew(t *testing.T) {
	tf := newTestFSM(t)
	future := usageRec("n1", 1, t0.Add(time.Hour+5*time.Minute), 10) // the leader's clock says t0+1h
	backwards := usageRec("n1", 2, t0, 10)
	backwards.End = backwards.Start.Add(-time.Second)
	r := ingest(t, tf, []structs.UsageRecord{future, backwards})
	if r.Applied != 2 || r.Flagged != 2 {
		t.Fatalf("skewed records: %+v", r)
	}
	if m := tf.state.Snapshot().UsageMark("n1"); m.Flagged != 2 || m.Seq != 2 {
		t.Fatalf("mark: %+v", m)
	}
	if su := tf.state.Snapshot().SandboxUsage("sb_1"); su.SandboxSeconds != 10 {
		t.Fatalf("a record ending before it starts counts no time: %+v", su)
	}
}

func TestUsageIngestRefusesBadBatches(t *testing.T) {
	tf := newTestFSM(t)
	other := usageRec("n2", 1, t0, 10)
	noSeq := usageRec("n1", 0, t0, 10)
	neg := usageRec("n1", 1, t0, 10)
	neg.CPUSeconds = -1
	for name, req := range map[string]*command.UsageIngestRequest{
		"another node's record": {NodeID: "n1", At: t0, Records: []structs.UsageRecord{other}},
		"no sequence":           {NodeID: "n1", At: t0, Records: []structs.UsageRecord{noSeq}},
		"negative":              {NodeID: "n1", At: t0, Records: []structs.UsageRecord{neg}},
		"no node":               {At: t0},
		"no time":               {NodeID: "n1"},
	} {
		if err, ok := tf.do(t, command.UsageIngest, req).(error); !ok || apperr.CodeOf(err) != apperr.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	if m := tf.state.Snapshot().UsageMark("n1"); m != nil {
		t.Fatalf("a refused batch left a mark: %+v", m)
	}
}

// The ledger is in snapshots: a restored state has the same totals and
// the same marks, so duplicates after a restore are still skipped.
func TestUsageLedgerSurvivesRestore(t *testing.T) {
	tf := newTestFSM(t)
	ingest(t, tf, recs(1, 4))
	dump := tf.dump(t)
	other := newTestFSM(t)
	if err := other.state.Restore(bytes.NewReader(dump)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(other.dump(t), dump) {
		t.Fatal("the restored state dumps differently")
	}
	other.next = tf.next
	if r := ingest(t, other, recs(3, 5)); r.Duplicates != 2 || r.Applied != 1 {
		t.Fatalf("after a restore: %+v", r)
	}
}

func TestExportCursorMovesOnlyForward(t *testing.T) {
	tf := newTestFSM(t)
	h := t0.Truncate(time.Hour)
	c := tf.mustDo(t, command.ExportCursor, &command.ExportCursorRequest{Exporter: "s3", Hour: h.Add(2 * time.Hour), At: t0}).(*structs.ExportCursor)
	if !c.Hour.Equal(h.Add(2 * time.Hour)) {
		t.Fatalf("cursor %v", c.Hour)
	}
	// An old leader's late save of an earlier hour leaves it.
	c = tf.mustDo(t, command.ExportCursor, &command.ExportCursorRequest{Exporter: "s3", Hour: h.Add(time.Hour), At: t0}).(*structs.ExportCursor)
	if got := tf.state.Snapshot().ExportCursor("s3"); !c.Hour.Equal(h.Add(2*time.Hour)) || !got.Hour.Equal(h.Add(2*time.Hour)) {
		t.Fatalf("cursor moved back: result %v, state %v", c.Hour, got.Hour)
	}
	if tf.state.Snapshot().ExportCursor("stripe") != nil {
		t.Fatal("another exporter's cursor is set")
	}
	wantCode(t, tf.do(t, command.ExportCursor, &command.ExportCursorRequest{Hour: h, At: t0}), apperr.InvalidArgument, "no exporter")
}

// TestRegionUsageReports: reports of several regions in one command are
// recorded each once; a replayed command skips them as stale; reports no
// order of arrival makes right are refused whole with INVALID_ARGUMENT.
func TestRegionUsageReports(t *testing.T) {
	tf := newTestFSM(t)
	row := func(region, team string, vcpu float64, asOf uint64) structs.RegionUsage {
		return structs.RegionUsage{Region: region, TeamID: team, Month: t0, AsOf: asOf, UsageTotals: structs.UsageTotals{VCPUSeconds: vcpu}}
	}
	req := &command.RegionUsageRequest{At: t0, Reports: []structs.RegionReport{
		{Region: "eu", AsOf: 40, Months: []structs.RegionUsage{row("eu", "t1", 5, 40), row("eu", "t2", 6, 31)}},
		{Region: "ap", AsOf: 12, Months: []structs.RegionUsage{row("ap", "t1", 7, 12)}},
	}}
	if r := tf.mustDo(t, command.RegionUsage, req).(*command.RegionUsageResult); r.Applied != 2 || r.Stale != 0 || r.Months != 3 {
		t.Fatalf("first: %+v", r)
	}
	before := tf.dump(t)
	if r := tf.mustDo(t, command.RegionUsage, req).(*command.RegionUsageResult); r.Applied != 0 || r.Stale != 2 {
		t.Fatalf("replayed: %+v", r)
	}
	// The dump's header carries the index, which moved; the rest is equal.
	if after := tf.dump(t); !bytes.Equal(after[bytes.IndexByte(after, '\n'):], before[bytes.IndexByte(before, '\n'):]) {
		t.Fatal("a replayed report changed the state")
	}

	bad := map[string]structs.RegionReport{
		"no region":           {AsOf: 50},
		"no index":            {Region: "eu"},
		"another region's":    {Region: "eu", AsOf: 50, Months: []structs.RegionUsage{row("ap", "t1", 1, 50)}},
		"no team":             {Region: "eu", AsOf: 50, Months: []structs.RegionUsage{row("eu", "", 1, 50)}},
		"after the report":    {Region: "eu", AsOf: 50, Months: []structs.RegionUsage{row("eu", "t1", 1, 51)}},
		"a negative amount":   {Region: "eu", AsOf: 50, Months: []structs.RegionUsage{row("eu", "t1", -1, 50)}},
		"a total of no month": {Region: "eu", AsOf: 50, Months: []structs.RegionUsage{{Region: "eu", TeamID: "t1", AsOf: 50}}},
		"a total of no index": {Region: "eu", AsOf: 50, Months: []structs.RegionUsage{row("eu", "t1", 1, 0)}},
	}
	for name, rep := range bad {
		ok := structs.RegionReport{Region: "us", AsOf: 3, Months: []structs.RegionUsage{row("us", "t1", 1, 3)}}
		wantCode(t, tf.do(t, command.RegionUsage, &command.RegionUsageRequest{At: t0, Reports: []structs.RegionReport{ok, rep}}), apperr.InvalidArgument, "")
		if tf.state.Snapshot().RegionMark("us") != nil {
			t.Fatalf("%s: the good report beside it was recorded", name)
		}
	}
	twice := structs.RegionReport{Region: "eu", AsOf: 60}
	wantCode(t, tf.do(t, command.RegionUsage, &command.RegionUsageRequest{At: t0, Reports: []structs.RegionReport{twice, twice}}), apperr.InvalidArgument, "two reports")
	wantCode(t, tf.do(t, command.RegionUsage, &command.RegionUsageRequest{Reports: []structs.RegionReport{twice}}), apperr.InvalidArgument, "no time")
	if m := tf.state.Snapshot().RegionMark("eu"); m.AsOf != 40 {
		t.Fatalf("eu's mark after refused reports: %+v", m)
	}
}
