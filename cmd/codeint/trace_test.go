package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestTracesFromResolverToEnvd runs `codeint dev --traces stdout` and
// checks that one execution is one trace, from the GraphQL operation
// through the sandbox service and the agent to the envd call.
func TestTracesFromResolverToEnvd(t *testing.T) {
	d := startDev(t, newDataDir(t), "--traces", "stdout")
	c := d.client()
	ctx := ctxT(t, time.Minute)
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Bash, Code: "echo traced"}); err != nil {
		t.Fatal(err)
	}
	d.stop(t, syscall.SIGTERM) // flushes the batch of spans

	type span struct {
		Name        string
		SpanContext struct{ TraceID, SpanID string }
		Parent      struct{ TraceID, SpanID string }
	}
	spans := map[string]span{} // by name; the last of each name
	for _, line := range strings.Split(d.stdout.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var s span
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("span line %q: %v", line, err)
		}
		spans[s.Name] = s
	}
	chain := []string{"mutation execute", "sandboxes.Execute", "agent.Execute", "envdclient.Exec"}
	for i, name := range chain {
		s, ok := spans[name]
		if !ok {
			t.Fatalf("no span %q among %d spans", name, len(spans))
		}
		if i == 0 {
			continue
		}
		parent := spans[chain[i-1]]
		if s.SpanContext.TraceID != parent.SpanContext.TraceID || s.Parent.SpanID != parent.SpanContext.SpanID {
			t.Fatalf("span %q is not a child of %q: %+v vs %+v", name, chain[i-1], s, parent)
		}
	}
}
