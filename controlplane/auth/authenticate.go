package auth

import (
	"context"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// The team and key that Bootstrap creates.
const (
	AdminTeamID       = "team_admin"
	AdminTeamName     = "admin"
	BootstrapKeyID    = "key_bootstrap"
	BootstrapKeyName  = "bootstrap"
	minBootstrapKeyLn = 16
)

// Authenticator checks API keys against the replicated state.
type Authenticator struct {
	state *state.Store
}

// NewAuthenticator returns an authenticator reading st.
func NewAuthenticator(st *state.Store) *Authenticator {
	return &Authenticator{state: st}
}

// Authenticate returns the principal of a secret key. A key that is not
// known, or whose team no longer exists, is UNAUTHENTICATED ("invalid API
// key"). The key is looked up by its hash only, so the secret is never
// compared, logged or kept.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, apperr.New(apperr.Unauthenticated, "missing API key")
	}
	snap := a.state.Snapshot()
	key := snap.APIKeyByHash(HashKey(secret))
	if key == nil {
		return Principal{}, apperr.New(apperr.Unauthenticated, "invalid API key")
	}
	if !key.RevokedAt.IsZero() {
		return Principal{}, apperr.New(apperr.Unauthenticated, "this API key was revoked")
	}
	team := snap.TeamByID(key.TeamID)
	if team == nil {
		return Principal{}, apperr.New(apperr.Unauthenticated, "invalid API key")
	}
	return principalOf(team, key), nil
}

func principalOf(team *structs.Team, key *structs.APIKey) Principal {
	return Principal{
		TeamID:    team.ID,
		TeamName:  team.Name,
		KeyID:     key.ID,
		KeyName:   key.Name,
		KeyPrefix: key.Prefix,
		Admin:     key.Admin,
	}
}

// Applier commits commands; *store.Store is one.
type Applier interface {
	Apply(ctx context.Context, t command.Type, req any) (any, error)
}

// Bootstrap makes sure secret is an admin key and returns its principal.
// If a key with the secret's hash exists it changes nothing. Otherwise it
// creates the team "admin" (id "team_admin") if missing and stores the key
// as "bootstrap" (id "key_bootstrap"), replacing an earlier bootstrap key:
// changing the bootstrap secret revokes the old one. Call it on the leader.
func Bootstrap(ctx context.Context, ap Applier, st *state.Store, secret string, now time.Time) (Principal, error) {
	if len(secret) < minBootstrapKeyLn {
		return Principal{}, apperr.New(apperr.InvalidArgument, "the bootstrap key must be at least %d characters", minBootstrapKeyLn)
	}
	hash := HashKey(secret)
	snap := st.Snapshot()
	if key := snap.APIKeyByHash(hash); key != nil {
		if team := snap.TeamByID(key.TeamID); team != nil {
			return principalOf(team, key), nil
		}
	}
	team := snap.TeamByID(AdminTeamID)
	if team == nil {
		team = &structs.Team{ID: AdminTeamID, Name: AdminTeamName, CreatedAt: now}
		if _, err := ap.Apply(ctx, command.TeamUpsert, &command.TeamUpsertRequest{Team: *team}); err != nil {
			return Principal{}, err
		}
	}
	key := &structs.APIKey{
		ID:        BootstrapKeyID,
		TeamID:    team.ID,
		Name:      BootstrapKeyName,
		Prefix:    DisplayPrefix(secret),
		Hash:      hash,
		Admin:     true,
		CreatedAt: now,
	}
	if _, err := ap.Apply(ctx, command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: *key}); err != nil {
		return Principal{}, err
	}
	return principalOf(team, key), nil
}
