// Package telemetry sets up codeint's OpenTelemetry pipeline — traces to
// stdout or OTLP, metrics through the Prometheus exporter served at
// /metrics — and defines the control plane's metric instruments.
//
// Nothing here is global except what OpenTelemetry itself keeps: Setup
// installs the tracer provider with otel.SetTracerProvider so every
// package's tracer (otel.Tracer(import path)) reports into it, and returns
// a shutdown function. Metrics are safe for concurrent use.
package telemetry
