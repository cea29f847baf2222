package command

import (
	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/structs"
)

// NewResult returns a new zero value of the result type of t, a pointer
// ready for json.Unmarshal, so that a result that crossed the wire (from
// the leader to a server that forwarded the command) decodes to the type
// the state machine returns. It returns nil for a command without a result
// (ServerRemove) and for an unknown type.
func NewResult(t Type) any {
	switch t {
	case TeamUpsert:
		return new(structs.Team)
	case APIKeyUpsert:
		return new(structs.APIKey)
	case SandboxCreate, SandboxUpdate:
		return new(structs.Sandbox)
	case NodeUpsert, NodeDrain:
		return new(structs.Node)
	case NodeDown:
		return new(NodeDownResult)
	case ServerUpsert:
		return new(structs.Server)
	case UsageIngest:
		return new(UsageIngestResult)
	case AccountUpdate:
		return new(billing.Account)
	case ExportCursor:
		return new(structs.ExportCursor)
	case RegionUsage:
		return new(RegionUsageResult)
	}
	return nil
}
