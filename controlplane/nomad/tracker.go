package nomad

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
)

// tracker remembers, per Nomad node id, the state last reported to the
// Sink, so that an unchanged state is not reported twice. It is used by
// one goroutine (Run's).
type tracker struct {
	sink  Sink
	log   *slog.Logger
	known map[string]NodeState // by Nomad node id; Index is the latest seen
}

// report hands s to the Sink unless it says what was last reported of
// the node. gone forgets the node afterwards (Nomad removed it). Nothing
// is remembered when the Sink fails, so the next list reports s again.
func (t *tracker) report(ctx context.Context, s NodeState, gone bool) error {
	prev, ok := t.known[s.NomadID]
	if !ok || !prev.same(s) {
		if err := t.sink.NodeState(ctx, s); err != nil {
			return fmt.Errorf("nomad: report node %s (nomad %s): %w", s.NodeID, s.NomadID, err)
		}
		t.log.Info("nomad node state",
			"event", "node_state", "node_id", s.NodeID, "nomad_id", s.NomadID,
			"eligible", s.Eligible, "draining", s.Draining, "down", s.Down, "index", s.Index)
	}
	if gone {
		delete(t.known, s.NomadID)
		return nil
	}
	t.known[s.NomadID] = s
	return nil
}

// stale reports whether a change at index is older than what the tracker
// already knows of the node (an event replayed after a list that saw its
// effect, or a later one).
func (t *tracker) stale(nomadID string, index uint64) bool {
	s, ok := t.known[nomadID]
	return ok && index != 0 && index <= s.Index
}

// forget drops a node that no longer maps to an agent.
func (t *tracker) forget(nomadID string) {
	delete(t.known, nomadID)
}

// missing returns, by agent id, the known nodes that listed lacks.
func (t *tracker) missing(listed map[string]bool) []NodeState {
	var out []NodeState
	for id, s := range t.known {
		if !listed[id] {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b NodeState) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
