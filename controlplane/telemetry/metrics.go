package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics are the control plane's instruments. The Prometheus names are
// executions_total, execution_duration_seconds, sandbox_creation_seconds,
// sandboxes (by state), execution_errors_total, timeout_errors_total and
// resource_limit_errors_total (by kind).
type Metrics struct {
	executions       metric.Int64Counter
	execDuration     metric.Float64Histogram
	creation         metric.Float64Histogram
	execErrors       metric.Int64Counter
	timeoutErrors    metric.Int64Counter
	limitErrors      metric.Int64Counter
	sandboxesByState metric.Int64ObservableGauge
	poolReady        metric.Int64ObservableGauge
	poolTarget       metric.Int64ObservableGauge
	poolClaims       metric.Int64ObservableCounter

	mu     sync.Mutex
	counts func() map[string]int
	pools  func() []PoolGauge
}

// PoolGauge is one warm pool as the metrics show it.
type PoolGauge struct {
	Pool         string // the pool's key, e.g. base/RUNC/1cpu/512MB/512MB
	Ready        int
	Target       int
	Hits, Misses uint64
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{}
	var err error
	if m.executions, err = meter.Int64Counter("executions", metric.WithDescription("Executions finished, by language and outcome.")); err != nil {
		return nil, fmt.Errorf("metric executions: %w", err)
	}
	if m.execDuration, err = meter.Float64Histogram("execution_duration", metric.WithUnit("s"),
		metric.WithDescription("Wall time of executions."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)); err != nil {
		return nil, fmt.Errorf("metric execution_duration: %w", err)
	}
	if m.creation, err = meter.Float64Histogram("sandbox_creation", metric.WithUnit("s"),
		metric.WithDescription("Time from createSandbox to RUNNING."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, fmt.Errorf("metric sandbox_creation: %w", err)
	}
	if m.execErrors, err = meter.Int64Counter("execution_errors", metric.WithDescription("Executions that failed: an error in the result or an API error.")); err != nil {
		return nil, fmt.Errorf("metric execution_errors: %w", err)
	}
	if m.timeoutErrors, err = meter.Int64Counter("timeout_errors", metric.WithDescription("Executions and sandboxes killed by a timeout, by kind.")); err != nil {
		return nil, fmt.Errorf("metric timeout_errors: %w", err)
	}
	if m.limitErrors, err = meter.Int64Counter("resource_limit_errors", metric.WithDescription("Executions and sandboxes ended or cut by a resource limit, by kind.")); err != nil {
		return nil, fmt.Errorf("metric resource_limit_errors: %w", err)
	}
	if m.sandboxesByState, err = meter.Int64ObservableGauge("sandboxes", metric.WithDescription("Sandboxes by state.")); err != nil {
		return nil, fmt.Errorf("metric sandboxes: %w", err)
	}
	if _, err = meter.RegisterCallback(m.observeSandboxes, m.sandboxesByState); err != nil {
		return nil, fmt.Errorf("metric sandboxes callback: %w", err)
	}
	if m.poolReady, err = meter.Int64ObservableGauge("warm_pool_ready", metric.WithDescription("Warm sandboxes ready to be claimed, by pool.")); err != nil {
		return nil, fmt.Errorf("metric warm_pool_ready: %w", err)
	}
	if m.poolTarget, err = meter.Int64ObservableGauge("warm_pool_target", metric.WithDescription("Warm sandboxes each pool aims to hold.")); err != nil {
		return nil, fmt.Errorf("metric warm_pool_target: %w", err)
	}
	if m.poolClaims, err = meter.Int64ObservableCounter("warm_pool_claims", metric.WithDescription("Creates that asked a warm pool, by pool and result (hit or miss).")); err != nil {
		return nil, fmt.Errorf("metric warm_pool_claims: %w", err)
	}
	if _, err = meter.RegisterCallback(m.observePools, m.poolReady, m.poolTarget, m.poolClaims); err != nil {
		return nil, fmt.Errorf("metric warm pool callback: %w", err)
	}
	return m, nil
}

// SetSandboxCounter sets the function the sandboxes gauge reads, state →
// count, at each scrape.
func (m *Metrics) SetSandboxCounter(f func() map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts = f
}

// SetPoolReader sets the function the warm-pool metrics read at each scrape.
func (m *Metrics) SetPoolReader(f func() []PoolGauge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pools = f
}

func (m *Metrics) observePools(_ context.Context, o metric.Observer) error {
	m.mu.Lock()
	f := m.pools
	m.mu.Unlock()
	if f == nil {
		return nil
	}
	for _, p := range f() {
		pool := attribute.String("pool", p.Pool)
		o.ObserveInt64(m.poolReady, int64(p.Ready), metric.WithAttributes(pool))
		o.ObserveInt64(m.poolTarget, int64(p.Target), metric.WithAttributes(pool))
		o.ObserveInt64(m.poolClaims, int64(p.Hits), metric.WithAttributes(pool, attribute.String("result", "hit")))
		o.ObserveInt64(m.poolClaims, int64(p.Misses), metric.WithAttributes(pool, attribute.String("result", "miss")))
	}
	return nil
}

func (m *Metrics) observeSandboxes(_ context.Context, o metric.Observer) error {
	m.mu.Lock()
	f := m.counts
	m.mu.Unlock()
	if f == nil {
		return nil
	}
	for state, n := range f() {
		o.ObserveInt64(m.sandboxesByState, int64(n), metric.WithAttributes(attribute.String("state", state)))
	}
	return nil
}

// Execution records one finished execution. outcome is "ok", "error" or
// "timeout".
func (m *Metrics) Execution(ctx context.Context, language, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	attrs := metric.WithAttributes(attribute.String("language", language), attribute.String("outcome", outcome))
	m.executions.Add(ctx, 1, attrs)
	m.execDuration.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("language", language)))
	if outcome != "ok" {
		m.execErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("language", language)))
	}
	if outcome == "timeout" {
		m.Timeout(ctx, "execution")
	}
}

// ExecutionError records an execution that failed before it ran (an API
// error such as a stopped sandbox).
func (m *Metrics) ExecutionError(ctx context.Context, language string) {
	if m == nil {
		return
	}
	m.execErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("language", language)))
}

// Timeout records a timeout of the given kind ("execution", "sandbox").
func (m *Metrics) Timeout(ctx context.Context, kind string) {
	if m == nil {
		return
	}
	m.timeoutErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// ResourceLimit records a limit that ended or cut an execution or a
// sandbox: TIMEOUT, OOM_KILLED, CPU_TIME_LIMIT, PIDS_LIMIT, DISK_FULL,
// OUTPUT_TRUNCATED, SANDBOX_TIMEOUT.
func (m *Metrics) ResourceLimit(ctx context.Context, kind string) {
	if m == nil {
		return
	}
	m.limitErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// SandboxCreated records the time from create to RUNNING.
func (m *Metrics) SandboxCreated(ctx context.Context, d time.Duration) {
	if m == nil {
		return
	}
	m.creation.Record(ctx, d.Seconds())
}
