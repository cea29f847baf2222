package lincheck

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

var (
	// ErrNotLinearizable is returned by Check when no order of the
	// operations on some sandbox agrees with the model.
	ErrNotLinearizable = errors.New("lincheck: history is not linearizable")
	// ErrCheckTimeout is returned by Check when the checker ran out of time
	// before deciding; the history may or may not be linearizable.
	ErrCheckTimeout = errors.New("lincheck: check timed out")
)

// Result sums up a Check.
type Result struct {
	Ops          int  // operations checked
	Partitions   int  // sandbox ids, each checked on its own
	Linearizable bool // true only when the checker proved it
}

// Check checks that the operations recorded so far are linearizable, each
// sandbox id on its own, giving the checker at most timeout (0: no limit).
// Call it once the operations of interest have returned.
//
// When the history is not linearizable, the error wraps ErrNotLinearizable
// and lists the first sandbox (by its first call) whose operations cannot be
// ordered; when the checker times out, it wraps ErrCheckTimeout. In both
// cases, if vizPath is not "", porcupine's HTML visualisation of the whole
// history is written there.
func (r *Recorder) Check(timeout time.Duration, vizPath string) (Result, error) {
	history := r.history()
	model := newModel()
	parts := partitionByID(history)
	res := Result{Ops: len(history), Partitions: len(parts)}

	verdict, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	var err error
	switch verdict {
	case porcupine.Ok:
		res.Linearizable = true
		return res, nil
	case porcupine.Illegal:
		err = explain(parts, info.PartialLinearizations())
	default:
		err = fmt.Errorf("%w after %v (%d ops, %d sandboxes)", ErrCheckTimeout, timeout, res.Ops, res.Partitions)
	}
	if vizPath != "" {
		if verr := porcupine.VisualizePath(model, info, vizPath); verr != nil {
			return res, fmt.Errorf("%w; writing visualisation %s: %w", err, vizPath, verr)
		}
		return res, fmt.Errorf("%w\nvisualisation: %s", err, vizPath)
	}
	return res, err
}

// explain names the first partition that has no complete linearization.
// partials holds, per partition, the longest partial linearizations the
// checker found; a linearizable partition has one covering all its ops.
func explain(parts [][]porcupine.Operation, partials [][][]int) error {
	for i, part := range parts {
		if i < len(partials) && linearized(partials[i], len(part)) {
			continue
		}
		id := part[0].Input.(input).id
		return fmt.Errorf("%w: sandbox %q, %d ops:\n%s", ErrNotLinearizable, id, len(part), describeOps(part))
	}
	// The checker said illegal yet every partition linearized: report the
	// whole verdict rather than invent a culprit.
	return fmt.Errorf("%w: no single sandbox identified", ErrNotLinearizable)
}

func linearized(partials [][]int, n int) bool {
	for _, p := range partials {
		if len(p) == n {
			return true
		}
	}
	return false
}

// describeOps lists a partition's operations, one a line, with their client
// and interval since the Recorder started.
func describeOps(part []porcupine.Operation) string {
	var b strings.Builder
	for _, op := range part {
		fmt.Fprintf(&b, "  client %d [%v, %v] %s\n", op.ClientId,
			time.Duration(op.Call), time.Duration(op.Return),
			describe(op.Input.(input), op.Output.(output)))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// sortByCall orders operations by call time (ties by return time), so
// partitions come out in the order their sandboxes were first touched.
func sortByCall(ops []porcupine.Operation) {
	slices.SortStableFunc(ops, func(a, b porcupine.Operation) int {
		if c := cmp.Compare(a.Call, b.Call); c != 0 {
			return c
		}
		return cmp.Compare(a.Return, b.Return)
	})
}
