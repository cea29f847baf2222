package command

import (
	"encoding/json"
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
		{"node", NodeUpsert, &NodeUpsertRequest{Node: structs.Node{ID: "n1", Status: structs.NodeReady, RPCAddr: "10.0.0.1:7100", Templates: []string{"python"}}}},
		{"node down", NodeDown, &NodeDownRequest{NodeID: "n1", At: at}},
		{"server", ServerUpsert, &ServerUpsertRequest{Server: structs.Server{ID: "s1", Region: "eu", RaftAddr: "a:1", RPCAddr: "a:2", HTTPAddr: "a:3", UpdatedAt: at}}},
		{"server remove", ServerRemove, &ServerRemoveRequest{ID: "s1"}},
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
		{"node down value", NodeDown, NodeDownRequest{NodeID: "n"}, false},
		{"node down given a node upsert", NodeDown, &NodeUpsertRequest{}, true},
		{"server remove given a server upsert", ServerRemove, &ServerUpsertRequest{}, true},
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
		{NodeDown, true, false},
		{ServerRemove, true, false},
		{NodeDrain, true, false},
		{UsageIngest, true, false},
		{AccountUpdate, true, false},
		{ExportCursor, true, false},
		{RegionUsage, true, false},
		{0, false, false},
		{14, false, false},
		{IgnoreUnknownTypeFlag | 14, false, true},
	}
	for _, tt := range tests {
		if tt.typ.Known() != tt.known || tt.typ.Ignorable() != tt.ignorable {
			t.Errorf("%v: Known=%v Ignorable=%v, want %v %v", tt.typ, tt.typ.Known(), tt.typ.Ignorable(), tt.known, tt.ignorable)
		}
	}
}

func TestNewResultDecodesJSON(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		typ  Type
		want any // the value the state machine would return
	}{
		{TeamUpsert, &structs.Team{ID: "team_1", Name: "one", CreatedAt: at}},
		{APIKeyUpsert, &structs.APIKey{ID: "key_1", TeamID: "team_1", Hash: "ab"}},
		{SandboxCreate, &structs.Sandbox{ID: "sb_1", State: structs.SandboxRunning, StartedAt: at}},
		{SandboxUpdate, &structs.Sandbox{ID: "sb_1", State: structs.SandboxLost, StopReason: structs.StopReasonNodeLost}},
		{NodeUpsert, &structs.Node{ID: "n1", RPCAddr: "h:1", Status: structs.NodeReady}},
		{NodeDown, &NodeDownResult{Node: structs.Node{ID: "n1", Status: structs.NodeDown}, Lost: []string{"sb_1", "sb_2"}}},
		{ServerUpsert, &structs.Server{ID: "s1", RaftAddr: "h:2", UpdatedAt: at}},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			b, err := json.Marshal(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			got := NewResult(tt.typ)
			if reflect.TypeOf(got) != reflect.TypeOf(tt.want) {
				t.Fatalf("NewResult(%v) is %T, want %T", tt.typ, got, tt.want)
			}
			if err := json.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, typ := range []Type{ServerRemove, 0, 99, IgnoreUnknownTypeFlag | 9} {
		if got := NewResult(typ); got != nil {
			t.Errorf("NewResult(%v) = %T, want nil", typ, got)
		}
	}
}

// A usage batch goes through the log in its compact form and comes back
// equal: times to the nanosecond, vCPUs to the thousandth, CPU time to
// the microsecond, the strings of every record.
func TestUsageIngestRoundTrip(t *testing.T) {
	start := time.Date(2026, 11, 27, 10, 59, 30, 123456789, time.UTC)
	in := UsageIngestRequest{NodeID: "n1", At: start.Add(time.Minute), Records: []structs.UsageRecord{
		{NodeID: "n1", Seq: 7, SandboxID: "sb_a", TeamID: "team_1", Template: "base", Start: start, End: start.Add(10 * time.Second),
			VCPUs: 0.5, MemoryMB: 512, CPUSeconds: 1.234567, PeakMemoryBytes: 123 << 20},
		{NodeID: "n2", Seq: 8, SandboxID: "sb_b", TeamID: "team_1", Start: start, End: start.Add(time.Second), VCPUs: 2, Final: true},
		{NodeID: "n1", Seq: 9, SandboxID: "sb_a", TeamID: "team_1", Template: "base"}, // zero times
	}}
	b, err := Encode(UsageIngest, in)
	if err != nil {
		t.Fatal(err)
	}
	typ, payload, err := Decode(b)
	if err != nil || typ != UsageIngest {
		t.Fatalf("decode: %v %v", typ, err)
	}
	got, err := DecodePayload(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got.(*UsageIngestRequest), in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got.(*UsageIngestRequest), in)
	}
	for _, bad := range []string{`{"n":"n1","s":["a"],"r":[[1,0,5,0,0,0,0,0,0,0,0,0]]}`, `{"n":"n1","r":[[1,2]]}`} {
		if _, err := DecodePayload(UsageIngest, []byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
