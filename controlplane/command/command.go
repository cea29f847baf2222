package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// Type is the first byte of every log entry: which request follows.
type Type uint8

// The command types. Values are written to the log: never renumber them.
const (
	TeamUpsert    Type = 1
	APIKeyUpsert  Type = 2
	SandboxCreate Type = 3
	SandboxUpdate Type = 4
	NodeUpsert    Type = 5
	NodeDown      Type = 6
	ServerUpsert  Type = 7
	ServerRemove  Type = 8
	NodeDrain     Type = 9
	UsageIngest   Type = 10
	AccountUpdate Type = 11
	ExportCursor  Type = 12
	RegionUsage   Type = 13
)

// IgnoreUnknownTypeFlag marks a command that an older server may skip when
// it does not know the type. A command without the flag whose type is
// unknown stops the state machine, because skipping it would let servers
// diverge.
const IgnoreUnknownTypeFlag Type = 128

// Errors returned by Encode and Decode.
var (
	// ErrEmpty is returned by Decode for an entry without a type byte.
	ErrEmpty = errors.New("command: empty entry")
	// ErrWrongPayload is returned by Encode when the payload is not the
	// request type of a known command type.
	ErrWrongPayload = errors.New("command: payload does not match the command type")
)

// String names the type, for logs.
func (t Type) String() string {
	switch t {
	case TeamUpsert:
		return "TeamUpsert"
	case APIKeyUpsert:
		return "APIKeyUpsert"
	case SandboxCreate:
		return "SandboxCreate"
	case SandboxUpdate:
		return "SandboxUpdate"
	case NodeUpsert:
		return "NodeUpsert"
	case NodeDown:
		return "NodeDown"
	case ServerUpsert:
		return "ServerUpsert"
	case ServerRemove:
		return "ServerRemove"
	case NodeDrain:
		return "NodeDrain"
	case UsageIngest:
		return "UsageIngest"
	case AccountUpdate:
		return "AccountUpdate"
	case ExportCursor:
		return "ExportCursor"
	case RegionUsage:
		return "RegionUsage"
	}
	if t&IgnoreUnknownTypeFlag != 0 {
		return fmt.Sprintf("Unknown(%d, ignorable)", uint8(t))
	}
	return fmt.Sprintf("Unknown(%d)", uint8(t))
}

// Known reports whether this version of the code knows the type.
func (t Type) Known() bool {
	return t >= TeamUpsert && t <= RegionUsage
}

// Ignorable reports whether a server that does not know the type may skip it.
func (t Type) Ignorable() bool { return t&IgnoreUnknownTypeFlag != 0 }

// Encode returns the log entry for a command: the type byte, then the JSON
// encoding of payload. For a known type the payload must be that type's
// request (value or pointer), so that a mix-up is caught before it reaches
// the log.
func Encode(t Type, payload any) ([]byte, error) {
	if err := checkPayload(t, payload); err != nil {
		return nil, err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("command: encode %v: %w", t, err)
	}
	b := make([]byte, 1+len(body))
	b[0] = byte(t)
	copy(b[1:], body)
	return b, nil
}

// Decode splits a log entry into its type and its JSON payload. The payload
// aliases b.
func Decode(b []byte) (Type, []byte, error) {
	if len(b) == 0 {
		return 0, nil, ErrEmpty
	}
	return Type(b[0]), b[1:], nil
}

// DecodePayload unmarshals the payload of an entry of type t into the
// request type of t and returns it as a pointer (*TeamUpsertRequest, …).
func DecodePayload(t Type, payload []byte) (any, error) {
	var req any
	switch t {
	case TeamUpsert:
		req = new(TeamUpsertRequest)
	case APIKeyUpsert:
		req = new(APIKeyUpsertRequest)
	case SandboxCreate:
		req = new(SandboxCreateRequest)
	case SandboxUpdate:
		req = new(SandboxUpdateRequest)
	case NodeUpsert:
		req = new(NodeUpsertRequest)
	case NodeDown:
		req = new(NodeDownRequest)
	case ServerUpsert:
		req = new(ServerUpsertRequest)
	case ServerRemove:
		req = new(ServerRemoveRequest)
	case NodeDrain:
		req = new(NodeDrainRequest)
	case UsageIngest:
		req = new(UsageIngestRequest)
	case AccountUpdate:
		req = new(AccountUpdateRequest)
	case ExportCursor:
		req = new(ExportCursorRequest)
	case RegionUsage:
		req = new(RegionUsageRequest)
	default:
		return nil, fmt.Errorf("command: decode: unknown type %v", t)
	}
	if err := json.Unmarshal(payload, req); err != nil {
		return nil, fmt.Errorf("command: decode %v: %w", t, err)
	}
	return req, nil
}

func checkPayload(t Type, payload any) error {
	ok := true
	switch t {
	case TeamUpsert:
		ok = is[TeamUpsertRequest](payload)
	case APIKeyUpsert:
		ok = is[APIKeyUpsertRequest](payload)
	case SandboxCreate:
		ok = is[SandboxCreateRequest](payload)
	case SandboxUpdate:
		ok = is[SandboxUpdateRequest](payload)
	case NodeUpsert:
		ok = is[NodeUpsertRequest](payload)
	case NodeDown:
		ok = is[NodeDownRequest](payload)
	case ServerUpsert:
		ok = is[ServerUpsertRequest](payload)
	case ServerRemove:
		ok = is[ServerRemoveRequest](payload)
	case NodeDrain:
		ok = is[NodeDrainRequest](payload)
	case UsageIngest:
		ok = is[UsageIngestRequest](payload)
	case AccountUpdate:
		ok = is[AccountUpdateRequest](payload)
	case ExportCursor:
		ok = is[ExportCursorRequest](payload)
	case RegionUsage:
		ok = is[RegionUsageRequest](payload)
	}
	if !ok {
		return fmt.Errorf("%w: %v cannot carry %T", ErrWrongPayload, t, payload)
	}
	return nil
}

// is reports whether payload is a T or a non-nil *T.
func is[T any](payload any) bool {
	switch p := payload.(type) {
	case T:
		return true
	case *T:
		return p != nil
	}
	return false
}

// TeamUpsertRequest creates or replaces a team.
type TeamUpsertRequest struct {
	Team structs.Team
}

// APIKeyUpsertRequest creates or replaces an API key. The key's team must
// exist and no other key may have the same hash.
type APIKeyUpsertRequest struct {
	Key structs.APIKey
}

// SandboxCreateRequest records a new sandbox. It fails with
// INVALID_ARGUMENT if a sandbox with the same id exists. The state machine
// sets CreatedAt to At and CreateIndex and ModifyIndex to the log index; an
// empty State becomes CREATING.
type SandboxCreateRequest struct {
	Sandbox structs.Sandbox
	At      time.Time
}

// SandboxUpdateRequest changes a sandbox. Empty or nil fields are left
// unchanged.
//
// An unknown id fails with NOT_FOUND. A sandbox in a terminal state
// (STOPPED, FAILED, LOST) never changes again: FAILED_PRECONDITION. When
// ExpectStates is not empty the update applies only if the current state is
// one of them, else FAILED_PRECONDITION naming the current state (a
// compare-and-set). The first transition to RUNNING sets StartedAt to At; a
// transition to a terminal state sets StoppedAt to At.
type SandboxUpdateRequest struct {
	ID           string
	At           time.Time
	ExpectStates []structs.SandboxState
	State        structs.SandboxState // "" = unchanged
	StopReason   string               // "" = unchanged
	Error        string               // "" = unchanged
	NodeID       string               // "" = unchanged
	Placement    *structs.Placement   // nil = unchanged
	ExpiresAt    *time.Time
	// TimeoutSeconds must not be negative.
	TimeoutSeconds *int
}

// NodeUpsertRequest creates or replaces a node.
type NodeUpsertRequest struct {
	Node structs.Node
}
