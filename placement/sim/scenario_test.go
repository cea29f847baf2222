package sim

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultScenarioIsValid(t *testing.T) {
	sc := DefaultScenario()
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := sc.Nodes(); n < 200 || n > 400 || len(sc.Regions) != 5 {
		t.Errorf("%d regions, %d nodes: want 5 regions and a few hundred nodes", len(sc.Regions), n)
	}
}

// A report's scenario reads back as the scenario that ran.
func TestScenarioJSONRoundTrip(t *testing.T) {
	sc := DefaultScenario()
	sc.Seed = 42
	sc.Placement.Weights.Latency = 7
	data, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseScenario(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sc) {
		t.Fatalf("round trip:\n%+v\n%+v", got, sc)
	}
}

// A document gives only what differs from the default; a list it gives
// replaces the default's, element fields not inherited.
func TestParseScenarioOverDefault(t *testing.T) {
	sc, err := ParseScenario([]byte(`{"seed": 9, "warm": {"slotsPerNode": 0},
		"regions": [{"name": "solo", "nodes": [{"count": 3, "vcpus": 4, "memoryMB": 8192, "diskMB": 10000}]}],
		"populations": [{"name": "p", "ratePerSecond": 5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultScenario()
	if sc.Seed != 9 || sc.Warm.SlotsPerNode != 0 || sc.Warm.RefillSeconds != def.Warm.RefillSeconds {
		t.Errorf("seed %d, warm %+v", sc.Seed, sc.Warm)
	}
	if len(sc.Regions) != 1 || sc.Regions[0].X != 0 || len(sc.Regions[0].Nodes) != 1 || sc.Nodes() != 3 {
		t.Errorf("regions %+v: want the one given, nothing of the default's first region", sc.Regions)
	}
	if len(sc.Populations) != 1 || sc.Populations[0].Home != "" || !reflect.DeepEqual(sc.Shapes, def.Shapes) {
		t.Errorf("populations %+v, shapes %+v", sc.Populations, sc.Shapes)
	}
	// The default's defaultRegion, us-east, went with its regions.
	if sc.DefaultRegion != "" || sc.defaultRegion() != "solo" {
		t.Errorf("defaultRegion %q, in effect %q; want the document's first region", sc.DefaultRegion, sc.defaultRegion())
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`{"sede": 1}`:                    "unknown field",
		`{"durationSeconds": -1}`:        "durationSeconds",
		`{"ramp": {"from": 0, "to": 0}}`: "no request would arrive",
		`{"shapes": []}`:                 "no request shape",
		`{"populations": [{"name": "p", "home": "mars", "ratePerSecond": 1}]}`: "not a region",
		`{"regions": [{"name": "a", "nodes": []}]}`:                            "no nodes",
		`{"durationSeconds": 1e9}`:                                             "more than",
		`{"placement": {"Policy": "first-fit"}}`:                               "placement policy",
		`[1, 2]`:                                                               "scenario",
	} {
		_, err := ParseScenario([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one that says %q", doc, err, want)
		}
	}
}

func TestReportJSONAndTable(t *testing.T) {
	// About 6 sandboxes at a time on room for 64: nothing is rejected.
	sc := oneRegion([]NodeGroup{{Count: 2, VCPUs: 32, MemoryMB: 64 << 10, DiskMB: 64 << 10}},
		Shape{Name: "s", VCPUs: 1, MemoryMB: 512, DiskMB: 512}, 0.2)
	rep, err := Compare(sc, allPolicies()...)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3+1+3 {
		t.Fatalf("table of %d lines:\n%s", len(lines), buf.String())
	}
	header := lines[3]
	for i, l := range lines[4:] {
		if len(l) != len(header) {
			t.Errorf("row %d is %d wide, the header %d: not aligned\n%s", i, len(l), len(header), buf.String())
		}
		if !strings.Contains(l, "none") {
			t.Errorf("row %d: a policy with no rejection should say none: %s", i, l)
		}
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("report JSON round trip differs")
	}
}
