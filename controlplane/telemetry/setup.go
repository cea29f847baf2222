package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// TraceExporter names where spans go.
type TraceExporter string

// Trace exporters.
const (
	TraceNone   TraceExporter = "none"
	TraceStdout TraceExporter = "stdout"
	TraceOTLP   TraceExporter = "otlp"
)

// Config says where telemetry goes.
type Config struct {
	ServiceName  string
	Traces       TraceExporter
	TraceWriter  io.Writer // for TraceStdout; os.Stderr when nil is the caller's choice
	OTLPEndpoint string    // host:port for TraceOTLP
}

// Telemetry is the running pipeline.
type Telemetry struct {
	Metrics        *Metrics
	MetricsHandler http.Handler
	shutdown       []func(context.Context) error
}

// Setup starts tracing and metrics as cfg says.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	res := resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))
	t := &Telemetry{}

	var exp sdktrace.SpanExporter
	switch cfg.Traces {
	case "", TraceNone:
	case TraceStdout:
		w := cfg.TraceWriter
		if w == nil {
			w = io.Discard
		}
		e, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, fmt.Errorf("stdout trace exporter: %w", err)
		}
		exp = e
	case TraceOTLP:
		e, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint), otlptracegrpc.WithInsecure())
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		exp = e
	default:
		return nil, fmt.Errorf("unknown trace exporter %q (want none, stdout or otlp)", cfg.Traces)
	}
	if exp != nil {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
		t.shutdown = append(t.shutdown, tp.Shutdown)
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})

	reg := prometheus.NewRegistry()
	pe, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(pe), sdkmetric.WithResource(res))
	t.shutdown = append(t.shutdown, mp.Shutdown)
	m, err := NewMetrics(mp.Meter("github.com/codeint/codeint/controlplane"))
	if err != nil {
		return nil, err
	}
	t.Metrics = m
	t.MetricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return t, nil
}

// Shutdown flushes and stops the pipeline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
