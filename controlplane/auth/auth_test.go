package auth_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/store/storetest"
	"github.com/codeint/codeint/controlplane/structs"
)

var now = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

func mustNewStore(t *testing.T) *store.Store {
	t.Helper()
	return storetest.Open(t, store.Config{NodeID: "node1"})
}

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGenerateKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := mustKey(t)
		if len(k) != 43 || !strings.HasPrefix(k, auth.KeyPrefix) {
			t.Fatalf("key %q: want ci_ and 40 characters", k)
		}
		for _, c := range k[3:] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				t.Fatalf("key %q has non-base62 %q", k, c)
			}
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

func TestHashAndPrefix(t *testing.T) {
	// SHA-256 of "abc".
	if got := auth.HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashKey(abc) = %s", got)
	}
	tests := map[string]string{
		"ci_AbC12345xyzxyz": "ci_AbC12345",
		"ci_short":          "ci_short",
		"":                  "",
	}
	for in, want := range tests {
		if got := auth.DisplayPrefix(in); got != want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseBearer(t *testing.T) {
	tests := []struct {
		header, want, says string
	}{
		{"Bearer ci_abc", "ci_abc", ""},
		{"bearer ci_abc", "ci_abc", ""},
		{"  BEARER   ci_abc  ", "ci_abc", ""},
		{"", "", "missing API key"},
		{"Bearer", "", "no API key"},
		{"Bearer    ", "", "no API key"},
		{"Basic dXNlcjpwYXNz", "", `must be "Bearer <API key>"`},
		{"ci_abc", "", `must be "Bearer <API key>"`},
		{"Bearer ci_a ci_b", "", "spaces"},
	}
	for _, tt := range tests {
		got, err := auth.ParseBearer(tt.header)
		if tt.says == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseBearer(%q) = %q, %v; want %q", tt.header, got, err, tt.want)
			}
			continue
		}
		if apperr.CodeOf(err) != apperr.Unauthenticated || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ParseBearer(%q) err = %v, want UNAUTHENTICATED saying %q", tt.header, err, tt.says)
		}
	}
}

func TestBootstrapAndAuthenticate(t *testing.T) {
	s := mustNewStore(t)
	ctx := context.Background()
	secret := mustKey(t)

	p, err := auth.Bootstrap(ctx, s, s.State(), secret, now)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	want := auth.Principal{TeamID: "team_admin", TeamName: "admin", KeyID: "key_bootstrap", KeyName: "bootstrap",
		KeyPrefix: auth.DisplayPrefix(secret), Admin: true}
	if p != want {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
	index := s.State().Index()

	// Idempotent: nothing is written the second time.
	p2, err := auth.Bootstrap(ctx, s, s.State(), secret, now.Add(time.Hour))
	if err != nil || p2 != want {
		t.Fatalf("second Bootstrap = %+v, %v", p2, err)
	}
	if s.State().Index() != index {
		t.Fatal("second Bootstrap wrote to the log")
	}

	a := auth.NewAuthenticator(s.State())
	got, err := a.Authenticate(ctx, secret)
	if err != nil || got != want {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for _, bad := range []string{"", mustKey(t), secret + "x", strings.ToUpper(secret)} {
		_, err := a.Authenticate(ctx, bad)
		if !errors.Is(err, apperr.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) err = %v, want UNAUTHENTICATED", bad, err)
		}
	}
	if _, err := a.Authenticate(ctx, mustKey(t)); err == nil || err.Error() != "invalid API key" {
		t.Errorf("unknown key error = %v, want \"invalid API key\"", err)
	}

	// Keys are stored only as hashes: the secret appears nowhere in the state.
	var dump bytes.Buffer
	if err := s.State().Snapshot().Dump(&dump); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(dump.Bytes(), []byte(secret)) || bytes.Contains(dump.Bytes(), []byte(secret[len(auth.DisplayPrefix(secret)):])) {
		t.Fatal("the state dump contains the secret")
	}
	if !bytes.Contains(dump.Bytes(), []byte(auth.HashKey(secret))) {
		t.Fatal("the state dump lacks the key hash")
	}

	// A new bootstrap secret replaces the old bootstrap key.
	secret2 := mustKey(t)
	if _, err := auth.Bootstrap(ctx, s, s.State(), secret2, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, secret2); err != nil {
		t.Fatalf("new bootstrap key: %v", err)
	}
	if _, err := a.Authenticate(ctx, secret); !errors.Is(err, apperr.ErrUnauthenticated) {
		t.Fatalf("old bootstrap key still works: %v", err)
	}
	if team := s.State().Snapshot().TeamByID("team_admin"); team == nil || !team.CreatedAt.Equal(now) {
		t.Fatalf("admin team = %+v", team)
	}
}

func TestAuthenticateOtherTeamKey(t *testing.T) {
	s := mustNewStore(t)
	ctx := context.Background()
	secret := mustKey(t)
	if _, err := s.Apply(ctx, command.TeamUpsert, &command.TeamUpsertRequest{Team: structs.Team{ID: "team_b", Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	key := structs.APIKey{ID: "key_b", TeamID: "team_b", Name: "ci", Prefix: auth.DisplayPrefix(secret), Hash: auth.HashKey(secret)}
	if _, err := s.Apply(ctx, command.APIKeyUpsert, &command.APIKeyUpsertRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
	p, err := auth.NewAuthenticator(s.State()).Authenticate(ctx, secret)
	if err != nil || p.TeamID != "team_b" || p.Admin || p.KeyName != "ci" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
}

// failingApplier refuses every command.
type failingApplier struct{ err error }

func (f failingApplier) Apply(context.Context, command.Type, any) (any, error) { return nil, f.err }

func TestBootstrapErrors(t *testing.T) {
	s := mustNewStore(t)
	ctx := context.Background()
	if _, err := auth.Bootstrap(ctx, s, s.State(), "short", now); apperr.CodeOf(err) != apperr.InvalidArgument {
		t.Fatalf("short secret err = %v", err)
	}
	boom := apperr.New(apperr.Unavailable, "not the leader")
	if _, err := auth.Bootstrap(ctx, failingApplier{boom}, s.State(), mustKey(t), now); !errors.Is(err, boom) {
		t.Fatalf("Bootstrap through a failing applier err = %v", err)
	}
}
