package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/usage"
)

// Authenticator turns an API key secret into the principal it belongs to.
// An unknown or revoked key is an UNAUTHENTICATED error.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// NodeEventSource streams node events from now on; the channel closes
// when ctx ends (events.NodeBroker is one).
type NodeEventSource interface {
	Subscribe(ctx context.Context) <-chan structs.NodeEvent
}

// Catalog lists what a deployment offers: its regions and templates.
type Catalog interface {
	Regions(ctx context.Context) ([]Region, error)
	Templates(ctx context.Context) ([]Template, error)
}

// UsageReporter sums a team's usage over a period, and reports what the
// ledger holds of one sandbox (nil before its first record).
type UsageReporter interface {
	// Usage reports [from, to); groupBy is "", HOUR, DAY, SANDBOX or TEMPLATE.
	Usage(ctx context.Context, teamID string, from, to time.Time, groupBy string) (UsageReport, error)
	SandboxUsage(ctx context.Context, teamID, sandboxID string) (*SandboxUsage, error)
}

// TeamAdmin creates teams and API keys on behalf of a caller.
type TeamAdmin interface {
	CreateTeam(ctx context.Context, caller auth.Principal, name string) (*structs.Team, error)
	CreateAPIKey(ctx context.Context, caller auth.Principal, teamID, name string) (secret string, key *structs.APIKey, team *structs.Team, err error)
	RevokeAPIKey(ctx context.Context, caller auth.Principal, keyID string) (*structs.APIKey, error)
	RenameTeam(ctx context.Context, caller auth.Principal, teamID, name string) (*structs.Team, error)
}

// Accounts reads and changes teams' billing accounts.
type Accounts interface {
	Account(ctx context.Context, teamID string) (usage.Account, error)
	// ChangeAccount applies a change for an admin caller and returns the
	// account as it is after it.
	ChangeAccount(ctx context.Context, caller auth.Principal, teamID string, change billing.AccountChange) (usage.Account, error)
	// Live is a team's cost now, running sandboxes' unmetered time included.
	Live(ctx context.Context, teamID string) (usage.Live, error)
}

// Resolver is the root of the resolvers. It only holds the services the
// resolvers call; it is safe for concurrent use when they are.
type Resolver struct {
	Sandboxes sandboxes.API
	Contexts  sandboxes.ContextsAPI  // nil: contexts are UNAVAILABLE
	Files     sandboxes.FilesAPI     // nil: files are UNAVAILABLE
	Processes sandboxes.ProcessesAPI // nil: commands and terminals are UNAVAILABLE
	Auth      Authenticator
	Catalog   Catalog
	Usage     UsageReporter
	Teams     TeamAdmin
	Accounts  Accounts        // nil: accounts are UNAVAILABLE
	Cluster   ClusterInfo     // nil: a single server; cluster is UNAVAILABLE
	Nodes     NodeEventSource // nil: nodeEvents is UNAVAILABLE
	Logger    *slog.Logger
}

// principal returns the caller the request was authenticated as.
func principal(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok || p.TeamID == "" {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "this request is not authenticated: send an API key as \"Authorization: Bearer <key>\"")
	}
	return p, nil
}

// teamID returns the calling team's id.
func teamID(ctx context.Context) (string, error) {
	p, err := principal(ctx)
	return p.TeamID, err
}

// errNotConfigured is returned by resolvers whose service this server runs
// without.
func errNotConfigured(what string) error {
	return apperr.New(apperr.Unavailable, "%s is not available on this server", what)
}

// contexts returns the calling team and the contexts service.
func (r *Resolver) contexts(ctx context.Context) (string, sandboxes.ContextsAPI, error) {
	team, err := teamID(ctx)
	if err == nil && r.Contexts == nil {
		err = errNotConfigured("code-interpreter contexts")
	}
	return team, r.Contexts, err
}

// files returns the calling team and the files service.
func (r *Resolver) files(ctx context.Context) (string, sandboxes.FilesAPI, error) {
	team, err := teamID(ctx)
	if err == nil && r.Files == nil {
		err = errNotConfigured("files")
	}
	return team, r.Files, err
}

// processes returns the calling team and the processes service.
func (r *Resolver) processes(ctx context.Context) (string, sandboxes.ProcessesAPI, error) {
	team, err := teamID(ctx)
	if err == nil && r.Processes == nil {
		err = errNotConfigured("commands and terminals")
	}
	return team, r.Processes, err
}
