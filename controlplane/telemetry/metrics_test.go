package telemetry

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPrometheusNames(t *testing.T) {
	tel, err := Setup(context.Background(), Config{ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m := tel.Metrics
	m.SetSandboxCounter(func() map[string]int { return map[string]int{"RUNNING": 3} })
	ctx := context.Background()
	m.Execution(ctx, "PYTHON", "ok", 10*time.Millisecond)
	m.Execution(ctx, "PYTHON", "timeout", time.Second)
	m.SandboxCreated(ctx, 50*time.Millisecond)
	m.ResourceLimit(ctx, "OOM_KILLED")
	m.SetPoolReader(func() []PoolGauge { return []PoolGauge{{Pool: "base/RUNC", Ready: 2, Target: 3, Hits: 5, Misses: 1}} })

	rec := httptest.NewRecorder()
	tel.MetricsHandler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`executions_total{language="PYTHON",outcome="ok"} 1`,
		`execution_duration_seconds_count{language="PYTHON"} 2`,
		`sandbox_creation_seconds_count 1`,
		`sandboxes{state="RUNNING"} 3`,
		`execution_errors_total{language="PYTHON"} 1`,
		`timeout_errors_total{kind="execution"} 1`,
		`resource_limit_errors_total{kind="OOM_KILLED"} 1`,
		`warm_pool_ready{pool="base/RUNC"} 2`,
		`warm_pool_target{pool="base/RUNC"} 3`,
		`warm_pool_claims_total{pool="base/RUNC",result="hit"} 5`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
