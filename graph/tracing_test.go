package graph_test

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/codeint/codeint/controlplane/structs"
)

// spanRecorder is installed as the global tracer provider once per test
// binary: the package's tracer binds to the first provider set, as it does
// in production where the lead sets it at startup.
var spanRecorder = sync.OnceValue(func() *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	return rec
})

func TestOperationSpans(t *testing.T) {
	rec := spanRecorder()
	before := len(rec.Ended())

	api := &fakeSandboxes{
		terminate: func(_ context.Context, _, id string) (*structs.Sandbox, error) {
			return &structs.Sandbox{ID: id, State: structs.SandboxStopped}, nil
		},
		execute: streamingExecute(1),
	}
	s := mustNewServer(t, api)
	ctx := context.Background()
	if _, err := s.client.Viewer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.TerminateSandbox(ctx, "sb-9"); err != nil {
		t.Fatal(err)
	}
	sub, err := s.client.Subscribe(ctx, executionDoc, executionVars)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, sub); err == nil {
		t.Fatal("stream did not end")
	}
	sub.Close()
	s.Close()

	want := map[string]string{ // span name → sandbox_id
		"query viewer":              "",
		"mutation terminateSandbox": "sb-9",
		"subscription execution":    "sb-1",
	}
	got := map[string]bool{}
	for _, span := range rec.Ended()[before:] {
		attrs := map[string]string{}
		for _, kv := range span.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		wantID, ok := want[span.Name()]
		if !ok {
			continue
		}
		got[span.Name()] = true
		if attrs["team_id"] != teamA || attrs["sandbox_id"] != wantID {
			t.Errorf("span %q: attributes %v, want team_id %s sandbox_id %q", span.Name(), attrs, teamA, wantID)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("no ended span %q", name)
		}
	}
}
