package auth_test

import (
	"context"
	"testing"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
)

func TestAdminTeamsAndKeys(t *testing.T) {
	ctx := context.Background()
	s := mustNewStore(t)
	root, err := auth.Bootstrap(ctx, s, s.State(), mustKey(t), now)
	if err != nil {
		t.Fatal(err)
	}
	admin := auth.NewAdmin(s, s.State())
	authn := auth.NewAuthenticator(s.State())

	team, err := admin.CreateTeam(ctx, root, "  course-101 ")
	if err != nil {
		t.Fatal(err)
	}
	if team.Name != "course-101" || team.ID == "" {
		t.Fatalf("team = %+v", team)
	}
	secret, key, gotTeam, err := admin.CreateAPIKey(ctx, root, team.ID, "grader")
	if err != nil {
		t.Fatal(err)
	}
	if gotTeam.ID != team.ID || key.Admin || key.Prefix != auth.DisplayPrefix(secret) {
		t.Fatalf("key = %+v team = %+v", key, gotTeam)
	}
	if stored := s.State().Snapshot().APIKeyByID(key.ID); stored == nil || stored.Hash != auth.HashKey(secret) {
		t.Fatalf("stored key = %+v, want hash of the secret", stored)
	}
	p, err := authn.Authenticate(ctx, secret)
	if err != nil || p.TeamID != team.ID || p.Admin {
		t.Fatalf("new key authenticates as %+v, %v", p, err)
	}

	// A team key: no teams, no keys for other teams (NOT_FOUND), its own team yes.
	if _, err := admin.CreateTeam(ctx, p, "x"); apperr.CodeOf(err) != apperr.PermissionDenied {
		t.Fatalf("non-admin createTeam: %v", err)
	}
	if _, _, _, err := admin.CreateAPIKey(ctx, p, root.TeamID, "steal"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("key for another team: %v", err)
	}
	if _, _, tm, err := admin.CreateAPIKey(ctx, p, "", "second"); err != nil || tm.ID != team.ID {
		t.Fatalf("own-team key: %v %+v", err, tm)
	}
	for _, name := range []string{"", "   "} {
		if _, err := admin.CreateTeam(ctx, root, name); apperr.CodeOf(err) != apperr.InvalidArgument {
			t.Fatalf("team name %q: %v", name, err)
		}
	}
	if _, _, _, err := admin.CreateAPIKey(ctx, root, "team_nope", "k"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown team: %v", err)
	}
}

func TestRevokeKeyAndRenameTeam(t *testing.T) {
	ctx := context.Background()
	s := mustNewStore(t)
	root, err := auth.Bootstrap(ctx, s, s.State(), mustKey(t), now)
	if err != nil {
		t.Fatal(err)
	}
	admin := auth.NewAdmin(s, s.State())
	authn := auth.NewAuthenticator(s.State())
	a, err := admin.CreateTeam(ctx, root, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := admin.CreateTeam(ctx, root, "b")
	if err != nil {
		t.Fatal(err)
	}
	secretA, keyA, _, err := admin.CreateAPIKey(ctx, root, a.ID, "a-key")
	if err != nil {
		t.Fatal(err)
	}
	_, keyB, _, err := admin.CreateAPIKey(ctx, root, b.ID, "b-key")
	if err != nil {
		t.Fatal(err)
	}
	pa, err := authn.Authenticate(ctx, secretA)
	if err != nil {
		t.Fatal(err)
	}

	// Another team's key and team are NOT_FOUND to a team key.
	if _, err := admin.RevokeAPIKey(ctx, pa, keyB.ID); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("revoking another team's key: %v", err)
	}
	if _, err := admin.RenameTeam(ctx, pa, b.ID, "mine"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("renaming another team: %v", err)
	}
	renamed, err := admin.RenameTeam(ctx, pa, a.ID, "course-a")
	if err != nil || renamed.Name != "course-a" || s.State().Snapshot().TeamByID(a.ID).Name != "course-a" {
		t.Fatalf("rename own team: %+v, %v", renamed, err)
	}
	if _, err := admin.RenameTeam(ctx, root, a.ID, " "); apperr.CodeOf(err) != apperr.InvalidArgument {
		t.Fatalf("empty name: %v", err)
	}

	revoked, err := admin.RevokeAPIKey(ctx, pa, keyA.ID)
	if err != nil || revoked.RevokedAt.IsZero() {
		t.Fatalf("revoke own key: %+v, %v", revoked, err)
	}
	if _, err := authn.Authenticate(ctx, secretA); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Fatalf("a revoked key authenticates: %v", err)
	}
	again, err := admin.RevokeAPIKey(ctx, root, keyA.ID)
	if err != nil || !again.RevokedAt.Equal(revoked.RevokedAt) {
		t.Fatalf("revoking twice: %+v, %v", again, err)
	}
}
