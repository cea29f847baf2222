package sim

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Result is what one policy did with a scenario. doc.go defines each
// measure.
type Result struct {
	Policy        string  `json:"policy"`
	Requests      int     `json:"requests"`
	Accepted      int     `json:"accepted"`
	Rejected      int     `json:"rejected"`
	RejectionRate float64 `json:"rejectionRate"`
	// RegretMeanMs and RegretP99Ms are over the accepted requests: the
	// true round trip to the region chosen minus the oracle's.
	RegretMeanMs float64 `json:"regretMeanMs"`
	RegretP99Ms  float64 `json:"regretP99Ms"`
	// RTTMeanMs is the mean true round trip to the region chosen.
	RTTMeanMs float64 `json:"rttMeanMs"`
	// FirstRejection is nil when every request was placed.
	FirstRejection *FirstRejection `json:"firstRejection"`
	// Fragmentation is the mean over the run, sampled once a simulated
	// second.
	Fragmentation Fragmentation `json:"fragmentation"`
	WarmHits      int           `json:"warmHits"`
	WarmHitRate   float64       `json:"warmHitRate"`
	// DecisionsPerSecond is requests over the wall time spent in the
	// policy's Place: the one measure that is not repeatable.
	DecisionsPerSecond float64 `json:"decisionsPerSecond"`
}

// FirstRejection is the state of the cluster when the first request was
// rejected: the utilisation of CPU and memory over the ready nodes.
type FirstRejection struct {
	AtSeconds float64 `json:"atSeconds"`
	Request   int     `json:"request"` // 1-based position in the workload
	Shape     string  `json:"shape"`   // of the request rejected
	CPU       float64 `json:"cpu"`
	Memory    float64 `json:"memory"`
}

// Fragmentation is the share of the free capacity lost to being split
// among nodes, for the most requested shape and for the largest:
// 1 − (requests of the shape that fit node by node) / (requests of it
// that would fit in the free resources pooled), averaged over the run.
type Fragmentation struct {
	CommonShape  string  `json:"commonShape"`
	Common       float64 `json:"common"`
	LargestShape string  `json:"largestShape"`
	Largest      float64 `json:"largest"`
}

// Report is a comparison: the scenario (which ParseScenario reads back),
// how well Vivaldi learnt its network, and one Result per policy.
type Report struct {
	Scenario Scenario     `json:"scenario"`
	Requests int          `json:"requests"`
	Vivaldi  VivaldiStats `json:"vivaldi"`
	Results  []Result     `json:"results"`
}

// WriteTable renders the report as an aligned text table, a policy a
// row, after two lines that say what was simulated.
func (r Report) WriteTable(w io.Writer) error {
	sc := &r.Scenario
	note := ""
	for _, res := range r.Results {
		if res.Policy == (Ours{}).Name() {
			note = "; ours = placement.Place, no latency budget"
		}
	}
	if _, err := fmt.Fprintf(w, "scenario %q: %d regions, %d nodes, %d client populations, %d requests over %gs (ramp %g→%g), seed %d\n"+
		"vivaldi: median estimate error %.1f%%, p90 %.1f%% over %d pairs%s\n\n",
		sc.Name, len(sc.Regions), sc.Nodes(), len(sc.Populations), r.Requests, sc.DurationSeconds, sc.Ramp.From, sc.Ramp.To, sc.Seed,
		100*r.Vivaldi.MedianRelError, 100*r.Vivaldi.P90RelError, r.Vivaldi.Pairs, note); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return WriteTable(w, r.Results)
}

// WriteTable renders results as an aligned text table, a policy a row.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\trequests\trejected\treject rate\tregret mean ms\tregret p99 ms\trtt mean ms\t"+
		"1st rejection s\tcpu util\tmem util\tfrag common\tfrag largest\twarm hit\tdecisions/s\t")
	for _, r := range results {
		first, cpu, mem := "none", "-", "-"
		if f := r.FirstRejection; f != nil {
			first, cpu, mem = fmt.Sprintf("%.1f", f.AtSeconds), pct(f.CPU), pct(f.Memory)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.2f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n",
			r.Policy, r.Requests, r.Rejected, pct(r.RejectionRate), r.RegretMeanMs, r.RegretP99Ms, r.RTTMeanMs,
			first, cpu, mem, pct(r.Fragmentation.Common), pct(r.Fragmentation.Largest), pct(r.WarmHitRate), r.DecisionsPerSecond)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
