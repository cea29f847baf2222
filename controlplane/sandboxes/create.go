package sandboxes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/placement"
)

// Create validates, places, commits and starts a sandbox.
func (s *Service) Create(ctx context.Context, teamID string, in CreateInput) (*structs.Sandbox, error) {
	sb, _, err := s.create(ctx, teamID, in, false)
	return sb, err
}

// Preview places a sandbox as Create would, without reserving, committing
// or starting anything, and says where it would go and why.
func (s *Service) Preview(ctx context.Context, teamID string, in CreateInput) (*structs.Placement, error) {
	_, p, err := s.create(ctx, teamID, in, true)
	return p, err
}

// create runs the two steps of placement. The region step runs here, on
// the server the request came in through; a region that turns out full
// hands the request to the next one the step ranked. The node step runs
// on the chosen region's leader (createHere).
func (s *Service) create(ctx context.Context, teamID string, in CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error) {
	ctx, span := tracer.Start(ctx, "sandboxes.Create")
	defer span.End()
	start := s.cfg.Now()
	r, err := s.resolveCreate(in)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkBudget(teamID); err != nil {
		return nil, nil, err
	}
	if in.Origin == "" {
		in.Origin = s.cfg.Region
	}
	id := newID("sb_")
	req := placementRequest(teamID, id, r, in)
	v := s.liveView(ctx)
	ps := v.snapshot(nil)
	if len(ps.Regions()) == 1 || slices.Equal(r.regions, []string{s.cfg.Region}) {
		// Only this region: say precisely why its nodes can never take it.
		if err := checkFits(r, s.cfg.Region, v.state.Nodes()); err != nil {
			return nil, nil, err
		}
	}
	choice, err := placement.ChooseRegion(req, ps)
	if err != nil {
		return nil, nil, placementError(err)
	}
	step := in.RegionStep
	if step == nil {
		step = regionStep(choice)
	}
	var short []string // what each region tried said
	for _, rc := range choice.Ranked {
		here := in
		here.Region, here.Regions, here.RegionStep = rc.Region, nil, chosen(step, rc.Region)
		var sb *structs.Sandbox
		var p *structs.Placement
		if rc.Region == s.cfg.Region {
			sb, p, err = s.createHere(ctx, teamID, id, r, req, here, preview)
		} else {
			sb, p, err = s.createElsewhere(ctx, teamID, here, preview)
		}
		if errors.Is(err, apperr.ErrResourceExhausted) && len(choice.Ranked) > 1 {
			s.log.Info("region full, trying the next", "event", "placement_fallback", "region", rc.Region, "error", err)
			short = append(short, rc.Region+": "+err.Error())
			step = passedOver(step, rc.Region, err)
			continue
		}
		if err == nil && !preview {
			span.SetAttributes(attribute.String("sandbox_id", sb.ID), attribute.String("team_id", teamID))
			s.cfg.Metrics.SandboxCreated(ctx, s.cfg.Now().Sub(start))
		}
		return sb, p, err
	}
	return nil, nil, apperr.New(apperr.ResourceExhausted, "every region that could take the sandbox turned out full (%s)",
		strings.Join(short, "; "))
}

// createElsewhere hands a create to the region the region step chose.
func (s *Service) createElsewhere(ctx context.Context, teamID string, in CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error) {
	rem := s.remote(ctx)
	if rem == nil {
		return nil, nil, apperr.New(apperr.Unavailable, "region %s was chosen but this server reaches no other region", in.Region)
	}
	sb, p, err := rem.Create(ctx, in.Region, teamID, in, preview)
	if err == nil && sb != nil && sb.NodeID != "" {
		s.learnAgent(ctx, teamID, sb)
	}
	return sb, p, err
}

// learnAgent makes the agent of a sandbox just created in another region
// reachable from here, for the execute that usually follows.
func (s *Service) learnAgent(ctx context.Context, teamID string, sb *structs.Sandbox) {
	if rem := s.remote(ctx); rem != nil {
		if _, addr, err := rem.Locate(ctx, teamID, sb.ID); err == nil {
			s.cfg.Agents.Learn(sb.NodeID, addr)
		}
	}
}

// maxStartAttempts bounds the nodes a create tries when nodes refuse it
// because their capacity raced (another start took it first).
const maxStartAttempts = 3

// createHere places a sandbox on a node of this region and starts it. On
// a server that is not the leader it forwards the create to the leader,
// which places on its live view: Raft state, heartbeat capacity and warm
// slots, and the reservations of creates in flight. req is the request
// create built; in is what the leader is sent.
func (s *Service) createHere(ctx context.Context, teamID, id string, r resolved, req placement.Request, in CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error) {
	if s.cfg.Leader != nil && !s.cfg.Leader.IsLeader() && !forwarded(ctx) {
		return s.cfg.Leader.Create(ctx, teamID, in, preview)
	}
	d, err := s.placeNode(ctx, id, req, r, !preview)
	if err != nil {
		return nil, nil, err
	}
	info := placementInfo(d, in.RegionStep)
	if preview {
		return nil, info, nil
	}
	defer s.unreserve(id)
	sb, err := s.start(ctx, teamID, id, r, req, d, info)
	return sb, info, err
}

// placeNode runs the node step over this region's live view and, when
// reserve is set, reserves the node's resources for id until the create
// commits.
func (s *Service) placeNode(ctx context.Context, id string, req placement.Request, r resolved, reserve bool) (placement.Decision, error) {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	v := s.liveView(ctx)
	if err := checkFits(r, s.cfg.Region, v.state.Nodes()); err != nil {
		return placement.Decision{}, err
	}
	req.Location.Regions = []string{s.cfg.Region}
	req.MaxLatencyMs = 0 // the region step has applied the budget
	d, err := placement.Place(req, v.snapshot(s.reserved))
	if err != nil {
		return d, placementError(err)
	}
	if reserve {
		s.reserved[id] = reservation{node: d.NodeID, team: req.Team, res: req.Resources}
	}
	return d, nil
}

func (s *Service) unreserve(id string) {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	delete(s.reserved, id)
}

// start commits the sandbox and starts it on the node placed: from a warm
// slot when the node has one, cold otherwise. A node that refuses for
// capacity is excluded and the next one placed, up to maxStartAttempts.
func (s *Service) start(ctx context.Context, teamID, id string, r resolved, req placement.Request, d placement.Decision, info *structs.Placement) (*structs.Sandbox, error) {
	now := s.cfg.Now()
	sb := structs.Sandbox{
		ID: id, TeamID: teamID, Template: r.template.Name, Runtime: r.runtime, Region: s.cfg.Region,
		NodeID: d.NodeID, State: structs.SandboxCreating,
		VCPUs: r.vcpus, MemoryMB: r.memoryMB, DiskMB: r.diskMB,
		TimeoutSeconds: int(r.timeout.Seconds()), Env: r.env, Metadata: r.metadata,
		ExpiresAt: now.Add(r.timeout), Placement: info,
	}
	log := s.log.With("sandbox_id", sb.ID, "team_id", teamID)
	env := make(map[string]string, len(r.env))
	for _, e := range r.env {
		env[e.Name] = e.Value
	}
	agent, ok := s.cfg.Agents.Get(d.NodeID)
	if !ok {
		return nil, apperr.New(apperr.Unavailable, "node %s was chosen but its agent is not reachable", d.NodeID)
	}
	if created, ok, err := s.createWarm(ctx, agent, sb, env, now); ok || err != nil {
		if err == nil {
			log.Info("sandbox running", "event", "sandbox_running", "warm", true, "node_id", d.NodeID)
		}
		return created, err
	}
	if _, err := s.cfg.Store.Apply(ctx, command.SandboxCreate, command.SandboxCreateRequest{Sandbox: sb, At: now}); err != nil {
		return nil, fmt.Errorf("commit sandbox %s: %w", sb.ID, err)
	}
	log.Info("sandbox placed", "event", "sandbox_placed", "node_id", d.NodeID, "placement", info.Explain())
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, agentStartTimeout)
		res, startErr := agent.StartSandbox(sctx, agentStart(sb, env))
		cancel()
		if startErr == nil {
			updated, err := s.update(ctx, command.SandboxUpdateRequest{ID: sb.ID, State: structs.SandboxRunning,
				ExpectStates: []structs.SandboxState{structs.SandboxCreating}})
			if err != nil {
				// Terminated or timed out while starting: do not leave it running.
				stopOnAgent(ctx, agent, sb.ID)
				return nil, fmt.Errorf("mark sandbox %s running: %w", sb.ID, err)
			}
			log.Info("sandbox running", "event", "sandbox_running", "start_ms", res.Duration.Seconds()*1000, "node_id", sb.NodeID)
			return updated, nil
		}
		next, moved := s.moveAfterRefusal(ctx, &sb, req, r, info, attempt, startErr)
		if !moved {
			log.Error("sandbox start failed", "event", "sandbox_start_failed", "error", startErr)
			_, _ = s.update(context.WithoutCancel(ctx), command.SandboxUpdateRequest{ID: sb.ID, State: structs.SandboxFailed,
				StopReason: structs.StopReasonStartFailed, Error: startErr.Error()})
			return nil, startError(sb.ID, startErr)
		}
		agent = next
		req.Exclude = append(req.Exclude, info.Excluded...)
	}
}

// moveAfterRefusal, after a node refused a start for capacity, places the
// sandbox again without that node and records the new node (still
// CREATING). It reports false when the refusal was of another kind, the
// attempts are spent or no other node can take it.
func (s *Service) moveAfterRefusal(ctx context.Context, sb *structs.Sandbox, req placement.Request, r resolved, info *structs.Placement, attempt int, startErr error) (agentapi.Agent, bool) {
	if !errors.Is(startErr, agentapi.ErrNoCapacity) || attempt >= maxStartAttempts {
		return nil, false
	}
	info.Excluded = append(info.Excluded, sb.NodeID+": "+startErr.Error())
	req.Exclude = append(req.Exclude, sb.NodeID)
	d, err := s.placeNode(ctx, sb.ID, req, r, true)
	if err != nil {
		return nil, false
	}
	agent, ok := s.cfg.Agents.Get(d.NodeID)
	if !ok {
		return nil, false
	}
	moved := placementInfo(d, info.Regions)
	moved.Excluded, moved.Attempts = info.Excluded, attempt+1
	if _, err := s.update(ctx, command.SandboxUpdateRequest{ID: sb.ID, NodeID: d.NodeID, Placement: moved,
		ExpectStates: []structs.SandboxState{structs.SandboxCreating}}); err != nil {
		return nil, false
	}
	s.log.Info("node refused the start, placed again", "event", "placement_retry", "sandbox_id", sb.ID,
		"refused_by", sb.NodeID, "node_id", d.NodeID, "error", startErr)
	sb.NodeID, *info = d.NodeID, *moved
	return agent, true
}

// createWarm serves a create from a warm sandbox when the node has one
// ready: the claim binds it in microseconds, and one Raft entry records the
// sandbox as RUNNING before the caller hears of it. If that commit fails
// the claimed sandbox is stopped. ok is false when no warm sandbox was
// ready (nothing happened; the caller starts cold).
func (s *Service) createWarm(ctx context.Context, agent agentapi.Agent, sb structs.Sandbox, env map[string]string, now time.Time) (*structs.Sandbox, bool, error) {
	wc, isWarm := agent.(agentapi.WarmClaimer)
	if !isWarm {
		return nil, false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, agentClaimTimeout)
	_, ok, err := wc.ClaimWarm(cctx, agentStart(sb, env))
	cancel()
	if err != nil || !ok {
		return nil, false, nil // a failed claim is a miss: start cold
	}
	sb.State = structs.SandboxRunning
	resp, err := s.cfg.Store.Apply(ctx, command.SandboxCreate, command.SandboxCreateRequest{Sandbox: sb, At: now})
	if err != nil {
		stopOnAgent(ctx, agent, sb.ID)
		return nil, true, fmt.Errorf("commit sandbox %s: %w", sb.ID, err)
	}
	created, isSandbox := resp.(*structs.Sandbox)
	if !isSandbox {
		return nil, true, fmt.Errorf("sandbox create of %s returned %T", sb.ID, resp)
	}
	return created, true, nil
}

// Bounds on calls to an agent, which may sit across a network that drops
// packets (a partition): a call must not wait for TCP to give up.
const (
	agentClaimTimeout = 2 * time.Second  // a claim takes microseconds on the node
	agentStartTimeout = 2 * time.Minute  // a cold start, gVisor's included, takes well under that
	agentStopTimeout  = 30 * time.Second // a stop kills a cgroup and removes a bundle
)

// stopOnAgent stops a sandbox on its node, whatever happens to the
// caller's request, within agentStopTimeout.
func stopOnAgent(ctx context.Context, agent agentapi.Agent, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), agentStopTimeout)
	defer cancel()
	return agent.StopSandbox(ctx, id)
}

// startError gives an agent's start failure its API code.
func startError(id string, err error) error {
	switch {
	case errors.Is(err, agentapi.ErrRuntimeUnavailable):
		return apperr.New(apperr.FailedPrecondition, "sandbox %s could not be started: %v", id, err)
	case errors.Is(err, agentapi.ErrNoCapacity):
		return apperr.New(apperr.ResourceExhausted, "sandbox %s could not be started: %v", id, err)
	}
	return apperr.New(apperr.Unavailable, "sandbox %s could not be started: %v", id, err)
}
