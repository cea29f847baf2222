package command

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	exp := at.Add(time.Hour)
	secs := 300
	tests := []struct {
		name string
		typ  Type
		req  any
	}{
		{"team", TeamUpsert, &TeamUpsertRequest{Team: structs.Team{ID: "team_1", Name: "one", CreatedAt: at}}},
		{"apikey", APIKeyUpsert, &APIKeyUpsertRequest{Key: structs.APIKey{ID: "key_1", TeamID: "team_1", Hash: "ab", Admin: true}}},
		{"sandbox create", SandboxCreate, &SandboxCreateRequest{At: at, Sandbox: structs.Sandbox{
			ID: "sb_1", TeamID: "team_1", State: structs.SandboxCreating, VCPUs: 1.5,
			Env: []structs.EnvVar{{Name: "A", Value: "b"}}, Metadata: []byte(`{"k":"v"}`),
		}}},
		{"sandbox update", SandboxUpdate, &SandboxUpdateRequest{
			ID: "sb_1", At: at, ExpectStates: []structs.SandboxState{structs.SandboxRunning},
			State: structs.SandboxStopped, StopReason: structs.StopReasonTimeout, ExpiresAt: &exp, TimeoutSeconds: &secs,
		}},
		{"node", NodeUpsert, &NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady, Templates: []string{"python"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.typ, tt.req)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if b[0] != byte(tt.typ) {
				t.Fatalf("type byte = %d, want %d", b[0], tt.typ)
			}
			typ, payload, err := Decode(b)
			if err != nil || typ != tt.typ {
				t.Fatalf("Decode = %v, %v; want %v", typ, err, tt.typ)
			}
			got, err := DecodePayload(typ, payload)
			if err != nil {
				t.Fatalf("DecodePayload: %v", err)
			}
			if !reflect.DeepEqual(got, tt.req) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.req)
			}
		})
	}
}

func TestEncodeAcceptsValuesAndRejectsMismatch(t *testing.T) {
	tests := []struct {
		name    string
		typ     Type
		payload any
		wantErr bool
	}{
		{"value", NodeUpsert, NodeUpsertRequest{}, false},
		{"pointer", NodeUpsert, &NodeUpsertRequest{}, false},
		{"nil pointer", NodeUpsert, (*NodeUpsertRequest)(nil), true},
		{"wrong request", SandboxCreate, &SandboxUpdateRequest{}, true},
		{"map", TeamUpsert, map[string]string{}, true},
		{"unknown ignorable type takes anything", IgnoreUnknownTypeFlag | 99, map[string]int{"x": 1}, false},
		{"unknown type takes anything", 99, "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.typ, tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Encode err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrWrongPayload) {
				t.Fatalf("err = %v, want ErrWrongPayload", err)
			}
		})
	}
}

func TestDecodeEmptyAndUnknown(t *testing.T) {
	if _, _, err := Decode(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Decode(nil) err = %v, want ErrEmpty", err)
	}
	if _, err := DecodePayload(42, []byte(`{}`)); err == nil {
		t.Fatal("DecodePayload of an unknown type succeeded")
	}
	if _, err := DecodePayload(TeamUpsert, []byte(`{`)); err == nil {
		t.Fatal("DecodePayload of broken JSON succeeded")
	}
}

func TestTypeFlags(t *testing.T) {
	tests := []struct {
		typ              Type
		known, ignorable bool
	}{
		{TeamUpsert, true, false},
		{NodeUpsert, true, false},
		{0, false, false},
		{6, false, false},
		{IgnoreUnknownTypeFlag | 6, false, true},
	}
	for _, tt := range tests {
		if tt.typ.Known() != tt.known || tt.typ.Ignorable() != tt.ignorable {
			t.Errorf("%v: Known=%v Ignorable=%v, want %v %v", tt.typ, tt.typ.Known(), tt.typ.Ignorable(), tt.known, tt.ignorable)
		}
	}
}
