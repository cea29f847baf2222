package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/graph"
	"github.com/codeint/codeint/sdk/go/codeint"
)

func TestHTTPAuthentication(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{})
	tests := []struct {
		name       string
		authz      string
		wantStatus int
		wantCode   string
	}{
		{"no key", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"wrong key", "Bearer ci_test_wrong", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"not bearer", "Basic " + goodKey, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"empty bearer", "Bearer ", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"store down", "Bearer " + brokenKey, http.StatusInternalServerError, "INTERNAL"},
		{"good key", "Bearer " + goodKey, http.StatusOK, ""},
		{"good key, lower-case scheme", "bearer " + goodKey, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, resp := s.post(t, tt.authz, `{"query":"{ viewer { team { id name } key { id prefix admin } } }"}`)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", status, tt.wantStatus)
			}
			if tt.wantCode == "" {
				if len(resp.Errors) != 0 {
					t.Fatalf("errors: %+v", resp.Errors)
				}
				want := `{"team":{"id":"team-a","name":"Team A"},"key":{"id":"key-1","prefix":"ci_test_","admin":true}}`
				if got := string(resp.Data["viewer"]); got != want {
					t.Fatalf("viewer = %s, want %s", got, want)
				}
				return
			}
			if len(resp.Errors) != 1 {
				t.Fatalf("want one error, got %+v", resp.Errors)
			}
			e := resp.Errors[0]
			if e.Extensions["code"] != tt.wantCode || len(e.Message) < 10 {
				t.Fatalf("error = %+v, want code %s and a sentence", e, tt.wantCode)
			}
			if strings.Contains(e.Message, "connection refused") {
				t.Fatalf("internal detail leaked: %q", e.Message)
			}
		})
	}
}

func TestSDKSeesUnauthenticated(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{})
	_, err := s.clientWithKey("nope").Viewer(context.Background())
	var e *codeint.Error
	if !errors.As(err, &e) || e.Code != codeint.CodeUnauthenticated || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %#v, want UNAUTHENTICATED with status 401", err)
	}
	v, err := s.client.Viewer(context.Background())
	if err != nil || v.Team.ID != teamA || !v.Key.Admin {
		t.Fatalf("viewer = %+v, %v", v, err)
	}
}

func TestPlaygroundNeedsNoKey(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{})
	resp, err := s.http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestServiceErrorsPassThrough(t *testing.T) {
	var gotTeam string
	api := &fakeSandboxes{
		get: func(_ context.Context, teamID, id string) (*structs.Sandbox, error) {
			gotTeam = teamID
			return nil, apperr.New(apperr.NotFound, "sandbox %s not found", id)
		},
		terminate: func(_ context.Context, _, id string) (*structs.Sandbox, error) {
			return nil, apperr.New(apperr.FailedPrecondition, "sandbox %s is still creating", id)
		},
		create: func(context.Context, string, sandboxes.CreateInput) (*structs.Sandbox, error) {
			return nil, apperr.New(apperr.ResourceExhausted, "team quota of 10 sandboxes reached")
		},
	}
	s := mustNewServer(t, api)
	ctx := context.Background()

	_, err := s.client.Sandbox(ctx, "sb-404")
	if codeint.CodeOf(err) != codeint.CodeNotFound || !strings.Contains(err.Error(), "sandbox sb-404 not found") {
		t.Fatalf("Sandbox: err = %v, want NOT_FOUND with the service's message", err)
	}
	if gotTeam != teamA {
		t.Fatalf("service asked for team %q, want the caller's %q", gotTeam, teamA)
	}
	var e *codeint.Error
	if errors.As(err, &e); len(e.Path) != 1 || e.Path[0] != "sandbox" {
		t.Fatalf("path = %v, want [sandbox]", e.Path)
	}
	if _, err := s.client.TerminateSandbox(ctx, "sb-1"); codeint.CodeOf(err) != codeint.CodeFailedPrecondition {
		t.Fatalf("TerminateSandbox: err = %v, want FAILED_PRECONDITION", err)
	}
	if _, err := s.client.CreateSandbox(ctx, codeint.CreateSandboxInput{}); codeint.CodeOf(err) != codeint.CodeResourceExhausted {
		t.Fatalf("CreateSandbox: err = %v, want RESOURCE_EXHAUSTED", err)
	}
}

func TestInvalidArgument(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{execute: streamingExecute(1)})
	authz := "Bearer " + goodKey
	tests := []struct {
		name string
		body string
	}{
		{"unknown enum literal", `{"query":"mutation { execute(sandboxId: \"sb-1\", input: {language: COBOL, code: \"x\"}) { id } }"}`},
		{"unknown enum variable", `{"query":"mutation ($in: ExecuteInput!) { execute(sandboxId: \"sb-1\", input: $in) { id } }","variables":{"in":{"language":"COBOL","code":"x"}}}`},
		{"missing required argument", `{"query":"mutation { execute(input: {language: PYTHON, code: \"x\"}) { id } }"}`},
		{"missing required variable", `{"query":"mutation ($id: ID!) { terminateSandbox(id: $id) { id } }"}`},
		{"variable of the wrong type", `{"query":"mutation ($s: Int!) { setSandboxTimeout(id: \"sb-1\", timeoutSeconds: $s) { id } }","variables":{"s":"soon"}}`},
		{"bad Time variable", `{"query":"query ($f: Time!, $t: Time!) { usage(from: $f, to: $t) { sandboxes } }","variables":{"f":"yesterday","t":"2025-01-01T00:00:00Z"}}`},
		{"bad Time literal", `{"query":"{ usage(from: \"yesterday\", to: \"2025-01-01T00:00:00Z\") { sandboxes } }"}`},
		{"empty usage period", `{"query":"{ usage(from: \"2025-01-01T00:00:00Z\", to: \"2025-01-01T00:00:00Z\") { sandboxes } }"}`},
		{"negative page size", `{"query":"{ sandboxes(first: -1) { totalCount } }"}`},
		{"unknown field", `{"query":"{ viewer { password } }"}`},
		{"syntax error", `{"query":"{ viewer { "}`},
		{"introspection off", `{"query":"{ __schema { types { name } } }"}`},
		{"body not JSON", `{"query":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp := s.post(t, authz, tt.body)
			if len(resp.Errors) == 0 {
				t.Fatalf("no error; data = %v", resp.Data)
			}
			for _, e := range resp.Errors {
				if e.Extensions["code"] != "INVALID_ARGUMENT" || e.Message == "" || e.Message == "internal error" {
					t.Fatalf("error = %+v, want INVALID_ARGUMENT with a message", e)
				}
			}
		})
	}
}

func TestInternalErrorsHideDetail(t *testing.T) {
	api := &fakeSandboxes{
		get: func(context.Context, string, string) (*structs.Sandbox, error) {
			return nil, errors.New("raft: apply: disk /var/lib/codeint is full")
		},
		terminate: func(context.Context, string, string) (*structs.Sandbox, error) {
			panic("nil map in the state store")
		},
	}
	s := mustNewServer(t, api)
	for _, q := range []string{`{ sandbox(id: "sb-1") { id } }`, `mutation { terminateSandbox(id: "sb-1") { id } }`} {
		body, _ := json.Marshal(map[string]string{"query": q})
		_, resp := s.post(t, "Bearer "+goodKey, string(body))
		if len(resp.Errors) != 1 {
			t.Fatalf("%s: errors = %+v", q, resp.Errors)
		}
		e := resp.Errors[0]
		if e.Extensions["code"] != "INTERNAL" || e.Message != "internal error" {
			t.Fatalf("%s: error = %+v, want INTERNAL with a generic message", q, e)
		}
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "/var/lib/codeint is full") || !strings.Contains(logs, "nil map in the state store") {
		t.Fatalf("the detail is not logged:\n%s", logs)
	}
}

func TestSandboxFields(t *testing.T) {
	created := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	var gotIn sandboxes.CreateInput
	api := &fakeSandboxes{
		create: func(_ context.Context, _ string, in sandboxes.CreateInput) (*structs.Sandbox, error) {
			gotIn = in
			return &structs.Sandbox{
				ID: "sb-1", TeamID: teamA, Template: "python", Region: "eu", State: structs.SandboxRunning,
				VCPUs: 0.5, MemoryMB: 512, DiskMB: 1024, TimeoutSeconds: 300,
				Env:       []structs.EnvVar{{Name: "TOKEN", Value: "s3cr3t"}},
				Metadata:  json.RawMessage(`{"owner":"ci"}`),
				CreatedAt: created, StartedAt: created.Add(time.Second),
			}, nil
		},
	}
	s := mustNewServer(t, api)
	sb, err := s.client.CreateSandbox(context.Background(), codeint.CreateSandboxInput{
		Template: "python", TimeoutSeconds: 300, VCPUs: 0.5,
		Env:      []codeint.EnvVar{{Name: "TOKEN", Value: "s3cr3t"}},
		Metadata: json.RawMessage(`{"owner":"ci"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if gotIn.Template != "python" || *gotIn.TimeoutSeconds != 300 || *gotIn.VCPUs != 0.5 || gotIn.MemoryMB != nil ||
		len(gotIn.Env) != 1 || gotIn.Env[0].Value != "s3cr3t" || string(gotIn.Metadata) != `{"owner":"ci"}` {
		t.Fatalf("service got %+v", gotIn)
	}
	if sb.ID != "sb-1" || sb.State != codeint.StateRunning || !sb.CreatedAt.Equal(created) || sb.StartedAt == nil ||
		sb.StoppedAt != nil || sb.NodeID != "" || string(sb.Metadata) != `{"owner":"ci"}` ||
		len(sb.EnvNames) != 1 || sb.EnvNames[0] != "TOKEN" {
		t.Fatalf("sandbox = %+v", sb)
	}

	// Values of environment variables never leave the server.
	_, resp := s.post(t, "Bearer "+goodKey, `{"query":"mutation { createSandbox(input: {}) { envNames createdAt } }"}`)
	if raw := string(resp.Data["createSandbox"]); strings.Contains(raw, "s3cr3t") || !strings.Contains(raw, `"2025-03-04T05:06:07.890123456Z"`) {
		t.Fatalf("createSandbox = %s", raw)
	}
}

func TestListSandboxes(t *testing.T) {
	var queries []sandboxes.ListQuery
	api := &fakeSandboxes{
		list: func(_ context.Context, _ string, q sandboxes.ListQuery) (sandboxes.Page, error) {
			queries = append(queries, q)
			if q.After == "" {
				return sandboxes.Page{Sandboxes: []*structs.Sandbox{{ID: "sb-3"}, {ID: "sb-2"}}, EndCursor: sandboxes.Cursor("sb-2"), HasNextPage: true, TotalCount: 3}, nil
			}
			return sandboxes.Page{Sandboxes: []*structs.Sandbox{{ID: "sb-1"}}, EndCursor: "c1", TotalCount: 3}, nil
		},
	}
	s := mustNewServer(t, api)
	list, err := s.client.ListSandboxes(context.Background(), codeint.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != "sb-3" || list[2].ID != "sb-1" {
		t.Fatalf("list = %+v", list)
	}
	if len(queries) != 2 || *queries[0].State != structs.SandboxRunning || queries[0].First != 100 || queries[1].After != sandboxes.Cursor("sb-2") {
		t.Fatalf("queries = %+v", queries)
	}

	_, resp := s.post(t, "Bearer "+goodKey, `{"query":"{ sandboxes(first: 2) { edges { cursor node { id } } pageInfo { endCursor hasNextPage } totalCount } }"}`)
	want := `{"edges":[{"cursor":"` + sandboxes.Cursor("sb-3") + `","node":{"id":"sb-3"}},{"cursor":"` + sandboxes.Cursor("sb-2") + `","node":{"id":"sb-2"}}],"pageInfo":{"endCursor":"` + sandboxes.Cursor("sb-2") + `","hasNextPage":true},"totalCount":3}`
	if got := string(resp.Data["sandboxes"]); got != want {
		t.Fatalf("sandboxes = %s\nwant %s", got, want)
	}
}

func TestExecuteMutation(t *testing.T) {
	var gotIn sandboxes.ExecuteInput
	api := &fakeSandboxes{execute: func(ctx context.Context, team, id string, in sandboxes.ExecuteInput, onEvent func(sandboxes.ExecEvent)) (*sandboxes.ExecutionResult, error) {
		gotIn = in
		return streamingExecute(2)(ctx, team, id, in, onEvent)
	}}
	s := mustNewServer(t, api)
	res, err := s.client.Execute(context.Background(), "sb-1", codeint.ExecuteInput{Language: codeint.Python, Code: "print(1)", Stdin: "in"})
	if err != nil {
		t.Fatal(err)
	}
	if gotIn.Language != "PYTHON" || gotIn.Code != "print(1)" || gotIn.Stdin != "in" {
		t.Fatalf("service got %+v", gotIn)
	}
	if res.ID != "ex-1" || res.Stdout != "line 1\nline 2\n" || res.Metrics.PeakMemoryBytes != 5<<30 ||
		res.Metrics.DurationMs != 1.5 || res.Results == nil || res.Error != nil {
		t.Fatalf("result = %+v", res)
	}
}

func TestCatalogAndUsage(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{})
	if _, resp := s.post(t, "Bearer "+goodKey, `{"query":"{ regions { name } }"}`); len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "UNAVAILABLE" {
		t.Fatalf("regions without a catalog: %+v", resp.Errors)
	}

	s = mustNewServer(t, &fakeSandboxes{}, func(c *graph.Config) {
		c.Catalog = fakeCatalog{}
		c.Usage = fakeUsage{}
	})
	_, resp := s.post(t, "Bearer "+goodKey, `{"query":"{ regions { name leader healthy } templates { name languages } usage(from: \"2025-01-01T00:00:00Z\", to: \"2025-02-01T00:00:00Z\") { from to sandboxSeconds sandboxes } }"}`)
	if len(resp.Errors) != 0 {
		t.Fatalf("errors: %+v", resp.Errors)
	}
	for field, want := range map[string]string{
		"regions":   `[{"name":"eu","leader":"10.0.0.1:4000","healthy":true}]`,
		"templates": `[{"name":"python","languages":["PYTHON","BASH"]}]`,
		"usage":     `{"from":"2025-01-01T00:00:00Z","to":"2025-02-01T00:00:00Z","sandboxSeconds":90.5,"sandboxes":3}`,
	} {
		if got := string(resp.Data[field]); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
}

type fakeCatalog struct{}

func (fakeCatalog) Regions(context.Context) ([]graph.Region, error) {
	return []graph.Region{{Name: "eu", Leader: "10.0.0.1:4000", Healthy: true}}, nil
}

func (fakeCatalog) Templates(context.Context) ([]graph.Template, error) {
	return []graph.Template{{Name: "python", Languages: []string{"PYTHON", "COBOL", "BASH"}}}, nil
}

type fakeUsage struct{}

func (fakeUsage) Usage(_ context.Context, teamID string, from, to time.Time, _ string) (graph.UsageReport, error) {
	if teamID != teamA {
		return graph.UsageReport{}, apperr.New(apperr.NotFound, "no team %s", teamID)
	}
	return graph.UsageReport{From: from, To: to, SandboxSeconds: 90.5, Sandboxes: 3}, nil
}

func (fakeUsage) SandboxUsage(_ context.Context, teamID, sandboxID string) (*graph.SandboxUsage, error) {
	if teamID != teamA || sandboxID != "sb_metered" {
		return nil, nil
	}
	return &graph.SandboxUsage{SandboxSeconds: 10, VCPUSeconds: 10, GiBSeconds: 5, CPUSeconds: 2.5, PeakMemoryBytes: 1 << 20, CostMicros: 163, Final: true}, nil
}

func TestIntrospectionWhenEnabled(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{}, func(c *graph.Config) { c.Introspection = true })
	_, resp := s.post(t, "Bearer "+goodKey, `{"query":"{ __schema { queryType { name } subscriptionType { fields { name } } } }"}`)
	if len(resp.Errors) != 0 || !strings.Contains(string(resp.Data["__schema"]), `"execution"`) {
		t.Fatalf("introspection: %s %+v", resp.Data["__schema"], resp.Errors)
	}
}

func TestUnsupportedRequest(t *testing.T) {
	s := mustNewServer(t, &fakeSandboxes{})
	req, _ := http.NewRequest(http.MethodPut, s.URL+"/graphql", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+goodKey)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INVALID_ARGUMENT" {
		t.Fatalf("PUT: %d %+v", resp.StatusCode, r.Errors)
	}
}

func TestSandboxUsage(t *testing.T) {
	get := func(_ context.Context, teamID, id string) (*structs.Sandbox, error) {
		return &structs.Sandbox{ID: id, TeamID: teamID, State: structs.SandboxStopped, Template: "base", Runtime: "RUNC"}, nil
	}
	s := mustNewServer(t, &fakeSandboxes{get: get}, func(c *graph.Config) { c.Usage = fakeUsage{} })
	q := `{"query":"{ a: sandbox(id: \"sb_metered\") { usage { sandboxSeconds vcpuSeconds gibSeconds cpuSeconds peakMemoryBytes costMicros final } } b: sandbox(id: \"sb_new\") { usage { final } } }"}`
	_, resp := s.post(t, "Bearer "+goodKey, q)
	if len(resp.Errors) != 0 {
		t.Fatalf("errors: %+v", resp.Errors)
	}
	if got, want := string(resp.Data["a"]), `{"usage":{"sandboxSeconds":10,"vcpuSeconds":10,"gibSeconds":5,"cpuSeconds":2.5,"peakMemoryBytes":1048576,"costMicros":163,"final":true}}`; got != want {
		t.Fatalf("metered sandbox = %s, want %s", got, want)
	}
	if got := string(resp.Data["b"]); got != `{"usage":null}` {
		t.Fatalf("a sandbox not metered yet = %s, want usage null", got)
	}
}
