package usage

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

func TestUsageFromLifecycles(t *testing.T) {
	st, err := state.New()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	txn := st.WriteTxn(1)
	for _, sb := range []*structs.Sandbox{
		{ID: "a", TeamID: "t1", VCPUs: 2, MemoryMB: 2048, State: structs.SandboxStopped, StartedAt: t0, StoppedAt: t0.Add(10 * time.Second), CreateIndex: 1},
		{ID: "b", TeamID: "t1", VCPUs: 1, MemoryMB: 1024, State: structs.SandboxRunning, StartedAt: t0.Add(20 * time.Second), CreateIndex: 1},
		{ID: "c", TeamID: "t1", VCPUs: 1, MemoryMB: 1024, State: structs.SandboxFailed, CreateIndex: 1}, // never ran
		{ID: "d", TeamID: "t2", VCPUs: 8, MemoryMB: 8192, State: structs.SandboxRunning, StartedAt: t0, CreateIndex: 1},
	} {
		if err := txn.UpsertSandbox(sb); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(30 * time.Second)
	svc := New(st, "", billing.DefaultPlan(), func() time.Time { return now })

	r, err := svc.Usage(context.Background(), "t1", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sandboxes != 2 || math.Abs(r.SandboxSeconds-20) > 1e-9 || math.Abs(r.VCPUSeconds-30) > 1e-9 || math.Abs(r.GiBSeconds-30) > 1e-9 {
		t.Fatalf("report = %+v; want 2 sandboxes, 20 sandbox-s, 30 vCPU-s, 30 GiB-s (team t2 must not count)", r.Report)
	}
	if want := int64(30*14 + 30*4.5); r.CostMicros != want {
		t.Fatalf("cost = %d, want %d", r.CostMicros, want)
	}
	if _, err := svc.Usage(context.Background(), "t1", t0, t0.Add(-time.Second)); !errors.Is(err, apperr.ErrInvalidArgument) {
		t.Fatalf("reversed window: err = %v, want INVALID_ARGUMENT", err)
	}
}
