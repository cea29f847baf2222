package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/codeint/codeint/nodeagent/runc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Execute runs code in a sandbox; see agentapi.Agent. It returns an error
// wrapping ErrUnknownSandbox for a sandbox this agent does not run, or one
// that ended during the execution; an error envd reports (an unknown
// language) wraps an *envdproto.Error.
//
// An execution a limit ended says which in Error.Name (agentapi.Limit*):
// envd names the wall timeout, the CPU-time limit and a full writable dir;
// the agent names the sandbox-wide limits from the sandbox's cgroup, read
// before and after (see classify).
func (a *Agent) Execute(ctx context.Context, sandboxID string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (res agentapi.ExecResult, err error) {
	ctx, span := tracer.Start(ctx, "agent.Execute", trace.WithAttributes(
		attribute.String("sandbox_id", sandboxID), attribute.String("execution_id", req.ExecutionID)))
	defer endSpan(span, &err)
	sb := a.lookup(sandboxID)
	if sb == nil {
		return res, fmt.Errorf("%w: %s", ErrUnknownSandbox, sandboxID)
	}
	begin := time.Now()
	req.Env = execEnv(req)
	cg := sb.container.Cgroup()
	before, statErr := cg.Limits()
	res, err = sb.client.Exec(ctx, req, onOutput)
	log := a.logger.With("sandbox_id", sandboxID, "execution_id", req.ExecutionID)
	var after runc.LimitCounters
	if statErr == nil {
		after, statErr = cg.Limits()
	}
	if statErr == nil && after.PidsLimitHits > before.PidsLimitHits {
		// Whatever became of the execution (envd may not even have
		// forked it), the sandbox must be able to fork again.
		a.reclaimPids(sb)
	}
	if err != nil {
		if errors.Is(err, envdclient.ErrClosed) {
			why := ""
			if statErr == nil && after.OOMKills > before.OOMKills {
				// Under gVisor the host's OOM killer sees only the
				// sentry: a program over the limit ends the sandbox.
				why = fmt.Sprintf(" (out of memory: the sandbox reached its %d MiB limit)", sb.memoryMB)
			}
			err = fmt.Errorf("%w: %s ended during the execution%s: %w", ErrUnknownSandbox, sandboxID, why, err)
		} else {
			err = fmt.Errorf("agent: execute in %s: %w", sandboxID, err)
		}
		log.Info("execution failed", "event", "exec_failed", "err", err)
		return res, err
	}
	if statErr == nil {
		classify(sb, &res, before, after)
	} else {
		log.Warn("sandbox cgroup unreadable: limits not named", "err", statErr)
	}
	if res.Error != nil {
		span.SetAttributes(attribute.String("error_name", res.Error.Name))
	}
	log.Debug("execution done", "event", "exec_done", "exit_code", res.ExitCode,
		"timed_out", res.TimedOut, "duration", time.Since(begin))
	return res, nil
}

// execEnv is the request's env as envd gets it: keys with envd's reserved
// prefix are dropped, so user env cannot pose as envd's own.
func execEnv(req agentapi.ExecRequest) map[string]string {
	reserved := false
	for k := range req.Env {
		reserved = reserved || strings.HasPrefix(k, envdproto.EnvReserved)
	}
	if !reserved {
		return req.Env
	}
	env := make(map[string]string, len(req.Env)) // never the caller's map
	for k, v := range req.Env {
		if !strings.HasPrefix(k, envdproto.EnvReserved) {
			env[k] = v
		}
	}
	return env
}

// classify names the sandbox-wide limit that ended an execution, from the
// sandbox's cgroup counters read before (b) and after (c) it:
//
//   - OOM_KILLED: the memory cgroup's OOM-kill counter rose and the program
//     died of SIGKILL (and not of envd's timeout). envd survives: user
//     processes carry a higher oom_score_adj (see package runc).
//   - PIDS_LIMIT: the pids cgroup refused a fork (its "max" event counter
//     rose). Forks failed with EAGAIN inside; the execution may have ended
//     any way, or still be running in the background (a fork bomb whose
//     leader returned). Execute has then killed every user process of the
//     sandbox (reclaimPids).
//
// The counters are the sandbox's: an execution running at the same time
// as the one that hit the limit is named too if it failed the same way.
func classify(sb *sandbox, res *agentapi.ExecResult, b, c runc.LimitCounters) {
	killed := res.ExitCode == 128+int(syscall.SIGKILL)
	switch {
	case c.OOMKills > b.OOMKills && killed && !res.TimedOut:
		res.Error = &agentapi.ExecError{Name: agentapi.LimitOOM,
			Value: fmt.Sprintf("out of memory: the sandbox's %d MiB limit was reached and the program was killed", sb.memoryMB)}
	case c.PidsLimitHits > b.PidsLimitHits:
		res.Error = &agentapi.ExecError{Name: agentapi.LimitPids,
			Value: fmt.Sprintf("the sandbox reached its limit of %d processes; its user processes were killed", sb.pidsLimit)}
	}
}

// reclaimWait bounds how long reclaimPids waits for killed processes to be
// reaped (by envd) and their pids freed.
const reclaimWait = 2 * time.Second

// reclaimPids kills every user process of a sandbox whose pids ran out,
// envd excepted, and waits until most pids are free again. A fork bomb
// cannot be told from the processes of other executions, and the sandbox
// cannot fork (not even envd, to start the next execution) until they are
// gone. Under gVisor the host sees only the sentry: nothing to do there.
func (a *Agent) reclaimPids(sb *sandbox) {
	if sb.runtime != agentapi.RuntimeRunc {
		return
	}
	cg := sb.container.Cgroup()
	if err := cg.KillUID(sb.uidBase + runc.UserUID); err != nil {
		a.logger.Warn("kill user processes after pids limit", "sandbox_id", sb.id, "err", err)
	}
	for deadline := time.Now().Add(reclaimWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err := cg.Stats(); err != nil || st.Pids < uint64(sb.pidsLimit)/2 {
			return
		}
	}
}

// OpenEnvd opens a stream to a sandbox's envd; see agentapi.Agent.
func (a *Agent) OpenEnvd(_ context.Context, sandboxID string) (net.Conn, error) {
	sb := a.lookup(sandboxID)
	if sb == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSandbox, sandboxID)
	}
	stream, err := sb.client.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("agent: envd of %s: %w", sandboxID, err)
	}
	return stream, nil
}
