package store

import (
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// apply decodes one committed entry and runs its command. An entry that
// does not decode, or of an unknown type without the ignore flag, was
// committed by a bug or by a newer server that requires this one to
// upgrade: continuing would let servers diverge, so it panics.
func (f *fsm) apply(index uint64, data []byte) any {
	t, payload, err := command.Decode(data)
	if err != nil {
		panic(fmt.Sprintf("store: entry %d: %v", index, err))
	}
	if !t.Known() {
		if t.Ignorable() {
			f.log.Warn("skipping unknown command", "index", index, "type", uint8(t))
			return nil
		}
		panic(fmt.Sprintf("store: entry %d: unknown command type %d; upgrade this server", index, uint8(t)))
	}
	req, err := command.DecodePayload(t, payload)
	if err != nil {
		panic(fmt.Sprintf("store: entry %d: %v", index, err))
	}
	switch r := req.(type) {
	case *command.TeamUpsertRequest:
		return f.teamUpsert(index, r)
	case *command.APIKeyUpsertRequest:
		return f.apiKeyUpsert(index, r)
	case *command.SandboxCreateRequest:
		return f.sandboxCreate(index, r)
	case *command.SandboxUpdateRequest:
		return f.sandboxUpdate(index, r)
	case *command.NodeUpsertRequest:
		return f.nodeUpsert(index, r)
	case *command.NodeDownRequest:
		return f.nodeDown(index, r)
	case *command.NodeDrainRequest:
		return f.nodeDrain(index, r)
	case *command.UsageIngestRequest:
		return f.usageIngest(index, r)
	case *command.AccountUpdateRequest:
		return f.accountUpdate(index, r)
	case *command.ExportCursorRequest:
		return f.exportCursor(index, r)
	case *command.RegionUsageRequest:
		return f.regionUsage(index, r)
	case *command.ServerUpsertRequest:
		return f.serverUpsert(index, r)
	case *command.ServerRemoveRequest:
		return f.serverRemove(index, r)
	}
	panic(fmt.Sprintf("store: entry %d: no handler for %v", index, t))
}

// write runs fn in a write transaction at index and commits it when fn
// succeeds. A failed command leaves the state, and its index, unchanged.
func (f *fsm) write(index uint64, fn func(*state.WriteTxn) error) error {
	txn := f.state.WriteTxn(index)
	defer txn.Abort()
	if err := fn(txn); err != nil {
		return err
	}
	return txn.Commit()
}

// result turns the outcome of a command into the FSM response: the error
// itself, or a copy of v that the caller may keep.
func result[T any](v *T, err error) any {
	if err != nil {
		return err
	}
	c := *v
	return &c
}

func (f *fsm) teamUpsert(index uint64, r *command.TeamUpsertRequest) any {
	team := r.Team
	if team.ID == "" {
		return apperr.New(apperr.InvalidArgument, "a team needs an id")
	}
	err := f.write(index, func(txn *state.WriteTxn) error { return txn.UpsertTeam(&team) })
	return result(&team, err)
}

func (f *fsm) apiKeyUpsert(index uint64, r *command.APIKeyUpsertRequest) any {
	key := r.Key
	switch {
	case key.ID == "":
		return apperr.New(apperr.InvalidArgument, "an API key needs an id")
	case !isSHA256Hex(key.Hash):
		return apperr.New(apperr.InvalidArgument, "API key %s: the hash must be a hex SHA-256 (keys are stored only as hashes)", key.ID)
	}
	err := f.write(index, func(txn *state.WriteTxn) error {
		if txn.TeamByID(key.TeamID) == nil {
			return apperr.New(apperr.InvalidArgument, "API key %s: team %q does not exist", key.ID, key.TeamID)
		}
		if other := txn.APIKeyByHash(key.Hash); other != nil && other.ID != key.ID {
			return apperr.New(apperr.InvalidArgument, "API key %s: another key has the same secret", key.ID)
		}
		return txn.UpsertAPIKey(&key)
	})
	return result(&key, err)
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == s
}

// started reports whether a sandbox in st has started running.
func started(st structs.SandboxState) bool {
	return st == structs.SandboxRunning || st == structs.SandboxExecuting
}

func (f *fsm) sandboxCreate(index uint64, r *command.SandboxCreateRequest) any {
	sb := r.Sandbox.Copy()
	if sb.State == "" {
		sb.State = structs.SandboxCreating
	}
	switch {
	case sb.ID == "":
		return apperr.New(apperr.InvalidArgument, "a sandbox needs an id")
	case sb.TeamID == "":
		return apperr.New(apperr.InvalidArgument, "sandbox %s: a sandbox needs a team", sb.ID)
	case !sb.State.Valid():
		return apperr.New(apperr.InvalidArgument, "sandbox %s: unknown state %q", sb.ID, sb.State)
	case sb.TimeoutSeconds < 0:
		return apperr.New(apperr.InvalidArgument, "sandbox %s: the timeout cannot be negative", sb.ID)
	case r.At.IsZero():
		return apperr.New(apperr.InvalidArgument, "sandbox %s: the command has no time", sb.ID)
	}
	sb.CreatedAt = r.At
	sb.StartedAt, sb.StoppedAt = time.Time{}, time.Time{}
	if started(sb.State) {
		sb.StartedAt = r.At
	}
	if sb.State.Terminal() {
		sb.StoppedAt = r.At
	}
	sb.CreateIndex, sb.ModifyIndex = index, index
	err := f.write(index, func(txn *state.WriteTxn) error {
		if txn.SandboxByID(sb.ID) != nil {
			return apperr.New(apperr.InvalidArgument, "sandbox %s already exists", sb.ID)
		}
		return txn.UpsertSandbox(sb)
	})
	if err != nil {
		return err
	}
	f.emit(structs.SandboxEvent{Index: index, Type: structs.SandboxEventCreated, At: r.At, Sandbox: sb})
	return sb.Copy()
}

func (f *fsm) sandboxUpdate(index uint64, r *command.SandboxUpdateRequest) any {
	switch {
	case r.State != "" && !r.State.Valid():
		return apperr.New(apperr.InvalidArgument, "sandbox %s: unknown state %q", r.ID, r.State)
	case r.TimeoutSeconds != nil && *r.TimeoutSeconds < 0:
		return apperr.New(apperr.InvalidArgument, "sandbox %s: the timeout cannot be negative", r.ID)
	case r.At.IsZero():
		return apperr.New(apperr.InvalidArgument, "sandbox %s: the command has no time", r.ID)
	}
	var (
		sb      *structs.Sandbox
		evtType structs.SandboxEventType
	)
	err := f.write(index, func(txn *state.WriteTxn) error {
		cur := txn.SandboxByID(r.ID)
		if cur == nil {
			return apperr.New(apperr.NotFound, "sandbox %s not found", r.ID)
		}
		if len(r.ExpectStates) > 0 && !slices.Contains(r.ExpectStates, cur.State) {
			return apperr.New(apperr.FailedPrecondition, "sandbox %s is %s", r.ID, cur.State)
		}
		if cur.State.Terminal() {
			return apperr.New(apperr.FailedPrecondition, "sandbox %s is %s and cannot change", r.ID, cur.State)
		}
		sb, evtType = updated(cur, r, index)
		return txn.UpsertSandbox(sb)
	})
	if err != nil {
		return err
	}
	f.emit(structs.SandboxEvent{Index: index, Type: evtType, At: r.At, Sandbox: sb})
	return sb.Copy()
}

// updated returns a new version of cur with the request applied and the
// type of event it makes: STATE_CHANGED when the state changed,
// TIMEOUT_CHANGED when only the timeout or expiry changed, and
// STATE_CHANGED for any other change of the record.
func updated(cur *structs.Sandbox, r *command.SandboxUpdateRequest, index uint64) (*structs.Sandbox, structs.SandboxEventType) {
	sb := cur.Copy()
	sb.ModifyIndex = index
	if r.StopReason != "" {
		sb.StopReason = r.StopReason
	}
	if r.Error != "" {
		sb.Error = r.Error
	}
	if r.NodeID != "" {
		sb.NodeID = r.NodeID
	}
	if r.Placement != nil {
		sb.Placement = r.Placement
	}
	timeoutChanged := false
	if r.ExpiresAt != nil && !r.ExpiresAt.Equal(sb.ExpiresAt) {
		sb.ExpiresAt, timeoutChanged = *r.ExpiresAt, true
	}
	if r.TimeoutSeconds != nil && *r.TimeoutSeconds != sb.TimeoutSeconds {
		sb.TimeoutSeconds, timeoutChanged = *r.TimeoutSeconds, true
	}
	if r.State == "" || r.State == cur.State {
		if timeoutChanged {
			return sb, structs.SandboxEventTimeoutChanged
		}
		return sb, structs.SandboxEventStateChanged
	}
	sb.State = r.State
	if started(r.State) && sb.StartedAt.IsZero() {
		sb.StartedAt = r.At
	}
	if r.State.Terminal() {
		sb.StoppedAt = r.At
	}
	return sb, structs.SandboxEventStateChanged
}

func (f *fsm) emit(ev structs.SandboxEvent) {
	if f.onEvent != nil {
		f.onEvent(ev)
	}
}
