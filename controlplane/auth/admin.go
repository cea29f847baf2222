package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// Admin manages teams and API keys through Raft. Safe for concurrent use.
type Admin struct {
	ap  Applier
	st  *state.Store
	now func() time.Time
}

// NewAdmin returns an Admin that commits through ap and reads st.
func NewAdmin(ap Applier, st *state.Store) *Admin {
	return &Admin{ap: ap, st: st, now: time.Now}
}

func newID(prefix string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

func checkName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", apperr.New(apperr.InvalidArgument, "%s name must be 1 to 100 characters", what)
	}
	return name, nil
}

// CreateTeam creates a team. Only admin keys may.
func (a *Admin) CreateTeam(ctx context.Context, caller Principal, name string) (*structs.Team, error) {
	if !caller.Admin {
		return nil, apperr.New(apperr.PermissionDenied, "only an admin key can create teams")
	}
	name, err := checkName("team", name)
	if err != nil {
		return nil, err
	}
	id, err := newID("team_")
	if err != nil {
		return nil, err
	}
	team := structs.Team{ID: id, Name: name, CreatedAt: a.now()}
	if _, err := a.ap.Apply(ctx, command.TeamUpsert, &command.TeamUpsertRequest{Team: team}); err != nil {
		return nil, fmt.Errorf("create team %q: %w", name, err)
	}
	return &team, nil
}

// CreateAPIKey creates a key for a team and returns its secret, which is
// shown only this once. An admin key may create keys for any team; any
// other key only for its own team (another team is NOT_FOUND). An empty
// teamID means the caller's team.
func (a *Admin) CreateAPIKey(ctx context.Context, caller Principal, teamID, name string) (string, *structs.APIKey, *structs.Team, error) {
	if teamID == "" {
		teamID = caller.TeamID
	}
	name, err := checkName("key", name)
	if err != nil {
		return "", nil, nil, err
	}
	team := a.st.Snapshot().TeamByID(teamID)
	if team == nil || (!caller.Admin && teamID != caller.TeamID) {
		return "", nil, nil, apperr.New(apperr.NotFound, "team %q not found", teamID)
	}
	secret, err := GenerateKey()
	if err != nil {
		return "", nil, nil, err
	}
	id, err := newID("key_")
	if err != nil {
		return "", nil, nil, err
	}
	key := structs.APIKey{ID: id, TeamID: teamID, Name: name, Prefix: DisplayPrefix(secret), Hash: HashKey(secret),
		CreatedAt: a.now()}
	if _, err := a.ap.Apply(ctx, command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: key}); err != nil {
		return "", nil, nil, fmt.Errorf("create key for team %s: %w", teamID, err)
	}
	return secret, &key, team, nil
}

// RevokeAPIKey revokes a key: it authenticates nothing from then on, in
// every region once replicated. An admin key may revoke any key, any
// other key only its own team's (another team's is NOT_FOUND). Revoking a
// revoked key returns it as is.
func (a *Admin) RevokeAPIKey(ctx context.Context, caller Principal, keyID string) (*structs.APIKey, error) {
	cur := a.st.Snapshot().APIKeyByID(keyID)
	if cur == nil || (!caller.Admin && cur.TeamID != caller.TeamID) {
		return nil, apperr.New(apperr.NotFound, "API key %q not found", keyID)
	}
	if !cur.RevokedAt.IsZero() {
		return cur, nil
	}
	key := *cur
	key.RevokedAt = a.now()
	if _, err := a.ap.Apply(ctx, command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: key}); err != nil {
		return nil, fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	return &key, nil
}

// RenameTeam renames a team. An admin key may rename any team, any other
// key only its own (another team is NOT_FOUND).
func (a *Admin) RenameTeam(ctx context.Context, caller Principal, teamID, name string) (*structs.Team, error) {
	name, err := checkName("team", name)
	if err != nil {
		return nil, err
	}
	cur := a.st.Snapshot().TeamByID(teamID)
	if cur == nil || (!caller.Admin && teamID != caller.TeamID) {
		return nil, apperr.New(apperr.NotFound, "team %q not found", teamID)
	}
	team := *cur
	team.Name = name
	if _, err := a.ap.Apply(ctx, command.TeamUpsert, &command.TeamUpsertRequest{Team: team}); err != nil {
		return nil, fmt.Errorf("rename team %s: %w", teamID, err)
	}
	return &team, nil
}
