package sandboxes

import (
	"context"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// API is what the GraphQL resolvers and other front ends need of the
// sandbox service. Every method is scoped by team: a sandbox of another team
// is NOT_FOUND. Errors carry apperr codes.
type API interface {
	Create(ctx context.Context, teamID string, in CreateInput) (*structs.Sandbox, error)
	Get(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	List(ctx context.Context, teamID string, q ListQuery) (Page, error)
	Terminate(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	SetTimeout(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error)
	// Execute runs code and returns its whole result. onEvent, when not nil,
	// receives the ExecutionStarted event, then every output chunk in order,
	// before Execute returns.
	Execute(ctx context.Context, teamID, sandboxID string, in ExecuteInput, onEvent func(ExecEvent)) (*ExecutionResult, error)
	// Events streams the team's sandbox events (of one sandbox when
	// sandboxID is not empty) until ctx ends; the channel is then closed.
	Events(ctx context.Context, teamID, sandboxID string) (<-chan structs.SandboxEvent, error)
	// Preview places a sandbox without creating it and says where it would
	// go and why.
	Preview(ctx context.Context, teamID string, in CreateInput) (*structs.Placement, error)
}

// CreateInput is what a caller may ask of a new sandbox. Nil or zero fields
// take the server's defaults.
type CreateInput struct {
	Template       string
	Region         string
	Runtime        string // RUNC or GVISOR; "" = the template's default
	TimeoutSeconds *int
	VCPUs          *float64
	MemoryMB       *int
	DiskMB         *int
	Env            []structs.EnvVar
	Metadata       []byte // JSON
	// Regions the client prefers, best first (instead of Region, which
	// names the one region to use); MaxLatencyMs bounds the estimated
	// round trip to a region (0: no bound); ClientCoord is the client's
	// own network coordinate, when it has one.
	Regions      []string
	MaxLatencyMs float64
	ClientCoord  *coordinate.Coordinate
	Labels       map[string]string // the node must carry every one
	// Set by servers: the region of the server the request came in
	// through, and the region step it ran, carried to the region chosen.
	Origin     string
	RegionStep []structs.PlacementRegion
}

// ListQuery filters and pages a team's sandboxes, newest first.
type ListQuery struct {
	State *structs.SandboxState
	First int    // 0 = default page size
	After string // cursor from a previous page
}

// Page is one page of sandboxes.
type Page struct {
	Sandboxes   []*structs.Sandbox
	EndCursor   string
	HasNextPage bool
	TotalCount  int
}

// ExecuteInput is one execution request.
type ExecuteInput struct {
	Language       string
	Code           string
	ContextID      string
	TimeoutSeconds *int
	CPUTimeLimit   *int // seconds
	Stdin          string
	Env            []structs.EnvVar
	Args           []string // the program's arguments
	Cwd            string   // working directory inside the sandbox; "" = the user's home
}

// ExecEvent is one event of a streamed execution: exactly one of Started,
// Output and Display is set.
type ExecEvent struct {
	Started *ExecutionStarted
	Output  *agentapi.OutputChunk
	// Display is a rich result of an execution in a context, in its
	// place among the output chunks.
	Display *agentapi.DisplayData
}

// ExecutionStarted is sent once, before any output.
type ExecutionStarted struct {
	ExecutionID string
	SandboxID   string
	StartedAt   time.Time
}

// ExecutionResult is the outcome of one execution.
type ExecutionResult struct {
	ID string
	agentapi.ExecResult
}
