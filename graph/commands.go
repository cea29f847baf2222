package graph

import (
	"context"
	"strings"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/graph/model"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// maxCommandOutput bounds what runCommand keeps of each stream.
const maxCommandOutput = 16 << 20

// runCommand starts a command, follows it to its exit and returns what it
// wrote.
func runCommand(ctx context.Context, svc sandboxes.ProcessesAPI, team, sandboxID string, in sandboxes.ProcessInput) (*model.CommandResult, error) {
	events, err := svc.FollowProcess(ctx, team, sandboxID, 0, &in)
	if err != nil {
		return nil, err
	}
	var res model.CommandResult
	var stdout, stderr strings.Builder
	for ev := range events {
		switch {
		case ev.Started != nil:
			res.Process = toProcess(ev.Started)
		case ev.Output != nil && ev.Output.Stream == agentapi.Stderr:
			keep(&stderr, ev.Output.Data)
		case ev.Output != nil:
			keep(&stdout, ev.Output.Data)
		case ev.Exit != nil:
			res.Exit = toProcessExit(ev.Exit)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.Process == nil || res.Exit == nil {
		return nil, apperr.New(apperr.Unavailable, "the sandbox stopped answering before the command ended")
	}
	res.Process.Running, res.Process.Exit = false, res.Exit
	res.Stdout = strings.ToValidUTF8(stdout.String(), "\uFFFD")
	res.Stderr = strings.ToValidUTF8(stderr.String(), "\uFFFD")
	return &res, nil
}

// keep appends data to b up to maxCommandOutput bytes.
func keep(b *strings.Builder, data []byte) {
	if room := maxCommandOutput - b.Len(); room > 0 {
		b.Write(data[:min(len(data), room)])
	}
}
