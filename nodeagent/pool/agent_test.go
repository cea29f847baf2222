package pool

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// fakeInner is an inner agent that records what it runs.
type fakeInner struct {
	mu      sync.Mutex
	running map[string]agentapi.StartRequest
	execs   []string // ids Execute was called with
	env     map[string]string
	opened  []string // ids OpenEnvd was called with
}

func (f *fakeInner) NodeID() string { return "n1" }
func (f *fakeInner) StartSandbox(_ context.Context, r agentapi.StartRequest) (agentapi.StartResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[r.SandboxID] = r
	return agentapi.StartResult{NodeID: "n1", Duration: 90 * time.Millisecond}, nil
}
func (f *fakeInner) StopSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
	return nil
}
func (f *fakeInner) Execute(_ context.Context, id string, req agentapi.ExecRequest, _ func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, id)
	f.env = req.Env
	return agentapi.ExecResult{}, nil
}
func (f *fakeInner) Sandboxes(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
func (f *fakeInner) OpenEnvd(_ context.Context, id string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, id)
	return nil, errors.New("fake: no envd")
}
func (f *fakeInner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.running)
}

func TestAgentWarmAndCold(t *testing.T) {
	inner := &fakeInner{running: map[string]agentapi.StartRequest{}}
	key := Key{Template: "base", Runtime: agentapi.RuntimeRunc, VCPUs: 1, MemoryMB: 512, DiskMB: 512}
	var exits []string
	var exitMu sync.Mutex
	a, err := NewAgent(AgentConfig{Inner: inner, OnExit: func(id, reason string) {
		exitMu.Lock()
		defer exitMu.Unlock()
		exits = append(exits, id+":"+reason)
	}, Pool: Config{Pools: map[Key]Spec{key: {Size: 2}}, MaxTotalMemoryMB: 4096, Tick: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer a.Close(ctx)
	waitFor(t, "two warm slots", func() bool { return inner.count() == 2 })

	req := agentapi.StartRequest{SandboxID: "sb_warm", Template: "base", VCPUs: 1, MemoryMB: 512, DiskMB: 512,
		Env: map[string]string{"A": "1", "B": "start"}}
	if _, err := a.StartSandbox(ctx, req); err != nil {
		t.Fatal(err)
	}
	slot := a.target("sb_warm")
	if slot == "sb_warm" || inner.running[slot].SandboxID != slot {
		t.Fatalf("sb_warm was not served from a warm slot (target %q)", slot)
	}
	if _, err := a.Execute(ctx, "sb_warm", agentapi.ExecRequest{Env: map[string]string{"B": "exec"}}, nil); err != nil {
		t.Fatal(err)
	}
	if inner.execs[0] != slot || inner.env["A"] != "1" || inner.env["B"] != "exec" {
		t.Fatalf("execute went to %v with env %v", inner.execs, inner.env)
	}
	_, _ = a.OpenEnvd(ctx, "sb_warm")
	if len(inner.opened) != 1 || inner.opened[0] != slot {
		t.Fatalf("OpenEnvd went to %v, want the slot %s", inner.opened, slot)
	}
	// A shape without a pool starts cold under its own id.
	if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: "sb_cold", Template: "base", MemoryMB: 2048}); err != nil {
		t.Fatal(err)
	}
	ids, _ := a.Sandboxes(ctx)
	if !slices.Equal(ids, []string{"sb_cold", "sb_warm"}) && !slices.Equal(ids, []string{"sb_warm", "sb_cold"}) {
		t.Fatalf("Sandboxes = %v, want the two sandboxes and no warm slot", ids)
	}
	// The bound slot's exit is reported under the sandbox's id.
	a.InnerExited(slot, "EXITED")
	exitMu.Lock()
	if !slices.Equal(exits, []string{"sb_warm:EXITED"}) {
		t.Fatalf("exits = %v", exits)
	}
	exitMu.Unlock()
	if err := a.StopSandbox(ctx, "sb_cold"); err != nil {
		t.Fatal(err)
	}

	// A warm slot that dies is discarded, never handed out.
	waitFor(t, "the pool refilled", func() bool { return len(a.pool.Slots()) == 2 && readyCount(a.pool) == 2 })
	dead := a.pool.Slots()[0]
	a.InnerExited(dead, "EXITED")
	for i := 0; i < 4; i++ {
		id := "sb_" + string(rune('a'+i))
		if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: id, Template: "base", VCPUs: 1, MemoryMB: 512, DiskMB: 512}); err != nil {
			t.Fatal(err)
		}
		if a.target(id) == dead {
			t.Fatalf("the dead slot %s was handed to %s", dead, id)
		}
	}
}

func readyCount(p *Pool) int {
	n := 0
	for _, s := range p.Stats() {
		n += s.Ready
	}
	return n
}
