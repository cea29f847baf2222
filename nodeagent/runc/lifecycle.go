package runc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Stop kills every process of the container through its cgroup, reaps the
// ones re-parented to this process, and removes everything the container
// left (Cleanup).
func (r *Runtime) Stop(ctx context.Context, c *Container) error {
	var errs []error
	if err := c.cgroup.KillAll(); err != nil {
		errs = append(errs, err)
	}
	if left := reap(c.adopted, stopWait); len(left) > 0 {
		r.logger.Warn("container processes not reaped", "sandbox_id", c.ID, "pids", left, "event", "reap_timeout")
	}
	c.conn.Close()
	if err := r.removeState(ctx, c.ID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Kill sends SIGKILL to the container through the runtime (the init, and
// with it the whole PID namespace under runc; the sandbox under runsc). A
// container that does not exist or no longer runs is not an error.
func (r *Runtime) Kill(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	_, err := r.command(ctx, "kill", id, "KILL")
	if isGone(err) {
		return nil
	}
	return err
}

// Cleanup removes what container id left on the host, whether or not it
// still runs: it kills what is left in its cgroup and reaps what was
// re-parented to this process, deletes the runtime's state, and removes the
// bundle and the cgroup directories in every hierarchy. It reports an
// error when something could not be removed.
func (r *Runtime) Cleanup(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	var errs []error
	if cg, err := openCgroup(r.cgroup, id); err == nil {
		// Leftovers (a crashed agent's) are rarely children of this
		// process; those that are get reaped.
		adopted := adoptedChildren(cg.Path())
		if err := cg.KillAll(); err != nil {
			errs = append(errs, err)
		}
		reap(adopted, stopWait)
	}
	if err := r.removeState(ctx, id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeState deletes the runtime's state of id (whose processes are
// dead), its bundle and its cgroup directories in every hierarchy.
func (r *Runtime) removeState(ctx context.Context, id string) error {
	var errs []error
	if r.hasState(id) {
		// Plain delete first: the processes are dead by now, and runc's
		// --force sends a kill it then polls for (about 100 ms). Force
		// only what still runs.
		if _, err := r.command(ctx, "delete", id); err != nil && !isGone(err) {
			if _, err := r.command(ctx, "delete", "--force", id); err != nil && !isGone(err) {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(r.BundleDir(id)); err != nil {
		errs = append(errs, fmt.Errorf("runc: remove bundle: %w", err))
	}
	if err := r.removeCgroups(ctx, id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hasState reports whether the runtime keeps state for id: a directory
// under runc's root, a "<id>_sandbox:<sandbox>.state" file under runsc's.
func (r *Runtime) hasState(id string) bool {
	if r.kind == KindRunsc {
		matches, _ := filepath.Glob(filepath.Join(r.root, id+"_sandbox:*"))
		return len(matches) > 0
	}
	_, err := os.Lstat(filepath.Join(r.root, id))
	return err == nil
}

// State is a container as `runc list` (or `runsc list`) reports it.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

// List returns the containers in the runtime's state root.
func (r *Runtime) List(ctx context.Context) ([]State, error) {
	format := []string{"list", "-f", "json"}
	if r.kind == KindRunsc {
		format = []string{"list", "-format", "json"}
	}
	out, err := r.command(ctx, format...)
	if err != nil {
		return nil, err
	}
	var states []State
	if out = bytes.TrimSpace(out); len(out) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &states); err != nil {
		return nil, fmt.Errorf("runc: decode %s list: %w", r.kind, err)
	}
	return states, nil
}

// Bundles returns the ids that have a bundle directory (of any runtime:
// the bundle directory is shared).
func (r *Runtime) Bundles() ([]string, error) {
	entries, err := os.ReadDir(r.bundles)
	if err != nil {
		return nil, fmt.Errorf("runc: list bundles: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
