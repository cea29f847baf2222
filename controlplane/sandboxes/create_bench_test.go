package sandboxes

import (
	"context"
	"testing"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

// BenchmarkCreateControlPlane is the control plane's share of a create:
// validation, placement and the two Raft commits on local disk, with an
// agent that starts instantly (as a warm claim nearly does).
func BenchmarkCreateControlPlane(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	if _, err := f.store.Apply(ctx, command.NodeUpsert, command.NodeUpsertRequest{Node: structs.Node{ID: "n1", Region: "local",
		Status: structs.NodeReady, VCPUs: 1e9, MemoryMB: 1e9, DiskMB: 1e9, Templates: []string{"base"},
		Runtimes: []string{RuntimeRunc}}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.svc.Create(ctx, "t1", CreateInput{}); err != nil {
			b.Fatal(err)
		}
	}
}
