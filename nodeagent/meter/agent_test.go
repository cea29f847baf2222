package meter

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// innerAgent is an agent that starts, claims and stops anything; it
// records the order of stops.
type innerAgent struct {
	warm    bool
	stopped []string
}

func (a *innerAgent) NodeID() string { return "n1" }
func (a *innerAgent) StartSandbox(context.Context, agentapi.StartRequest) (agentapi.StartResult, error) {
	return agentapi.StartResult{}, nil
}
func (a *innerAgent) ClaimWarm(context.Context, agentapi.StartRequest) (agentapi.StartResult, bool, error) {
	return agentapi.StartResult{}, a.warm, nil
}
func (a *innerAgent) StopSandbox(_ context.Context, id string) error {
	a.stopped = append(a.stopped, id)
	return nil
}
func (a *innerAgent) Execute(context.Context, string, agentapi.ExecRequest, func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
	return agentapi.ExecResult{}, errors.New("not here")
}
func (a *innerAgent) Sandboxes(context.Context) ([]string, error) { return nil, nil }
func (a *innerAgent) OpenEnvd(context.Context, string) (net.Conn, error) {
	return nil, errors.New("not here")
}

// The front meters a sandbox from its start (cold or warm) to its stop,
// and the stop's final record is in the log before the inner stop runs.
func TestAgentMetersStartsAndStops(t *testing.T) {
	l := openLog(t, t.TempDir())
	samp := newFakeSampler()
	m, err := New(Config{NodeID: "n1", Log: l, Sampler: samp, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	inner := &innerAgent{warm: true}
	front := NewAgent(inner, m, func(err error) { t.Errorf("metering: %v", err) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go front.Run(ctx)

	if _, err := front.StartSandbox(ctx, agentapi.StartRequest{SandboxID: "cold", TeamID: "t", VCPUs: 1, MemoryMB: 256}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := front.ClaimWarm(ctx, agentapi.StartRequest{SandboxID: "warm", TeamID: "t", VCPUs: 2, MemoryMB: 512}); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	for _, id := range []string{"cold", "warm"} {
		if err := front.StopSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	recs := allRecords(t, l)
	if len(recs) != 2 || recs[0].SandboxID != "cold" || !recs[0].Final || recs[1].SandboxID != "warm" || !recs[1].Final ||
		recs[1].VCPUs != 2 || recs[1].TeamID != "t" {
		t.Fatalf("records %+v", recs)
	}
	if len(inner.stopped) != 2 || m.Running() != 0 {
		t.Fatalf("inner stops %v, still metered %d", inner.stopped, m.Running())
	}
	// An exit the agent reports ends metering too; a stop of an unknown
	// sandbox is no error.
	if _, err := front.StartSandbox(ctx, agentapi.StartRequest{SandboxID: "exits", TeamID: "t"}); err != nil {
		t.Fatal(err)
	}
	front.Stopped(ctx, "exits", time.Time{})
	front.Stopped(ctx, "never-started", time.Time{})
	if recs := allRecords(t, l); len(recs) != 3 || recs[2].SandboxID != "exits" || !recs[2].Final {
		t.Fatalf("records %+v", recs)
	}
	// Without warm pools inside, a claim is a miss.
	plain := NewAgent(struct{ agentapi.Agent }{inner}, m, nil)
	if _, ok, _ := plain.ClaimWarm(ctx, agentapi.StartRequest{SandboxID: "x"}); ok {
		t.Fatal("a claim through an agent without warm pools succeeded")
	}
}
