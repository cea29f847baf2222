package main

import (
	"context"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/cluster"
	"github.com/codeint/codeint/controlplane/federation"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/usage"
	"github.com/codeint/codeint/graph"
	"github.com/codeint/codeint/placement"
)

// catalog is the single-region catalog of `codeint dev`.
type catalog struct {
	region    string
	leader    string
	templates []sandboxes.Template
}

func (c catalog) Regions(context.Context) ([]graph.Region, error) {
	return []graph.Region{{Name: c.region, Leader: c.leader, Authoritative: true, Healthy: true}}, nil
}

func (c catalog) Templates(context.Context) ([]graph.Template, error) {
	out := make([]graph.Template, 0, len(c.templates))
	for _, t := range c.templates {
		g := graph.Template{Name: t.Name, Description: t.Description, Languages: t.Languages}
		for _, tc := range t.Toolchains {
			g.Toolchains = append(g.Toolchains, graph.Toolchain{Language: tc.Language, Version: tc.Version, Compiled: tc.Compiled})
		}
		out = append(out, g)
	}
	return out, nil
}

// usageAdapter serves the usage service's reports to the GraphQL layer.
type usageAdapter struct{ svc *usage.Service }

func (u usageAdapter) Usage(ctx context.Context, teamID string, from, to time.Time, groupBy string) (graph.UsageReport, error) {
	r, err := u.svc.Usage(ctx, teamID, from, to)
	if err != nil {
		return graph.UsageReport{}, err
	}
	out := graph.UsageReport{From: r.From, To: r.To, SandboxSeconds: r.SandboxSeconds, Sandboxes: r.Sandboxes,
		VCPUSeconds: r.VCPUSeconds, GiBSeconds: r.GiBSeconds, CostMicros: r.CostMicros}
	if groupBy == "" {
		return out, nil
	}
	groups, err := u.svc.Groups(teamID, from, to, groupBy)
	if err != nil {
		return graph.UsageReport{}, err
	}
	for _, g := range groups {
		out.Groups = append(out.Groups, graph.UsageGroup{Key: g.Key, SandboxSeconds: g.SandboxSeconds, VCPUSeconds: g.VCPUSeconds,
			GiBSeconds: g.GiBSeconds, CPUSeconds: g.CPUSeconds, CostMicros: g.CostMicros, Records: g.Records})
	}
	return out, nil
}

func (u usageAdapter) SandboxUsage(ctx context.Context, teamID, sandboxID string) (*graph.SandboxUsage, error) {
	su, ok, err := u.svc.SandboxUsage(ctx, teamID, sandboxID)
	if err != nil || !ok {
		return nil, err
	}
	return &graph.SandboxUsage{SandboxSeconds: su.SandboxSeconds, VCPUSeconds: su.VCPUSeconds, GiBSeconds: su.GiBSeconds,
		CPUSeconds: su.CPUSeconds, PeakMemoryBytes: su.PeakMemoryBytes, CostMicros: su.CostMicros, Final: su.Final}, nil
}

// clusterCatalog is the catalog of a server in a federation: every region
// as federation sees it, and the templates this server offers.
type clusterCatalog struct {
	fed       *federation.Federation
	templates []sandboxes.Template
}

func (c clusterCatalog) Regions(context.Context) ([]graph.Region, error) {
	var out []graph.Region
	for _, r := range c.fed.Regions() {
		g := graph.Region{Name: r.Name, Leader: r.Leader, Authoritative: r.Authoritative, Healthy: r.Healthy}
		if r.Latency != nil {
			ms := float64(r.Latency.Microseconds()) / 1000
			g.LatencyMs, g.LatencySource = &ms, r.LatencySource
		}
		out = append(out, g)
	}
	return out, nil
}

func (c clusterCatalog) Templates(ctx context.Context) ([]graph.Template, error) {
	return catalog{templates: c.templates}.Templates(ctx)
}

// clusterInfo serves the cluster view and read barriers to the GraphQL
// layer.
type clusterInfo struct {
	region  string
	cluster *cluster.Cluster
}

func (c clusterInfo) Cluster(ctx context.Context) (graph.ClusterView, error) {
	peers, err := c.cluster.Peers(ctx)
	if err != nil {
		return graph.ClusterView{}, err
	}
	health := c.cluster.Health()
	v := graph.ClusterView{Region: c.region}
	for _, p := range peers {
		h, probed := health[p.GetNodeId()]
		s := graph.ClusterServer{NodeID: p.GetNodeId(), RaftAddress: p.GetRaftAddr(), RPCAddress: p.GetRpcAddr(),
			Voter: p.GetVoter(), Leader: p.GetLeader(), Healthy: probed && h.Healthy}
		if probed && !h.LastContact.IsZero() {
			s.LastContact = time.Since(h.LastContact)
		}
		v.Servers = append(v.Servers, s)
	}
	return v, nil
}

func (c clusterInfo) Barrier(ctx context.Context, level string) error {
	return c.cluster.Barrier(ctx, cluster.Consistency(level))
}

// liveNodes gives placement what the leader's tracker last heard from each
// node: its warm slots. A follower has heard nothing (ok false).
func liveNodes(t *nodes.Tracker) func(string) (sandboxes.LiveNode, bool) {
	return func(id string) (sandboxes.LiveNode, bool) {
		hb, _, ok := t.Live(id)
		if !ok {
			return sandboxes.LiveNode{}, false
		}
		return sandboxes.LiveNode{Warm: warmSlots(hb.FreeSlots), Coord: hb.Coord}, true
	}
}

// warmSlots turns an agent's ready warm sandboxes by pool key into
// placement's pools (template and runtime).
func warmSlots(free map[string]int) map[placement.PoolKey]int {
	out := make(map[placement.PoolKey]int, len(free))
	for key, n := range free {
		if pk, ok := sandboxes.PoolKeyOf(key); ok {
			out[pk] += n
		}
	}
	return out
}

// devLive gives placement, in codeint dev, the in-process node's warm
// slots and, with --rpc-addr, what other agents' heartbeats say. parts is
// read at each call: the node and the tracker start after the service.
func devLive(nodeID string, parts func() (*localNode, *nodes.Tracker)) func(string) (sandboxes.LiveNode, bool) {
	return func(id string) (sandboxes.LiveNode, bool) {
		node, tracker := parts()
		if id == nodeID && node != nil && node.warm != nil {
			return sandboxes.LiveNode{Warm: warmSlots(freeSlots(node.warm))}, true
		}
		if tracker != nil {
			return liveNodes(tracker)(id)
		}
		return sandboxes.LiveNode{}, false
	}
}

// placementRegions gives placement every region this server can send a
// sandbox to: its own (with its coordinate) and the healthy, not refused
// others with their coordinates and the capacity summaries they reported.
func placementRegions(fed *federation.Federation) func() []placement.Region {
	return func() []placement.Region {
		var out []placement.Region
		for _, r := range fed.Regions() {
			if r.Refused || (!r.Healthy && r.Name != fed.Region()) {
				continue
			}
			pr := placement.Region{Name: r.Name, Coord: r.Coord}
			if r.Summary != nil {
				pr.Summary = *r.Summary
			}
			out = append(out, pr)
		}
		return out
	}
}

// accountsAdapter serves billing accounts to the GraphQL layer: changes
// through the team admin (committed in the authoritative region), views
// from the usage ledger.
type accountsAdapter struct {
	admin  *auth.Admin
	ledger *usage.Service
}

func (a accountsAdapter) Account(_ context.Context, teamID string) (usage.Account, error) {
	return a.ledger.Account(teamID)
}

func (a accountsAdapter) ChangeAccount(ctx context.Context, caller auth.Principal, teamID string, change billing.AccountChange) (usage.Account, error) {
	acct, err := a.admin.ChangeAccount(ctx, caller, teamID, change)
	if err != nil {
		return usage.Account{}, err
	}
	return a.ledger.AccountAs(*acct)
}

func (a accountsAdapter) Live(_ context.Context, teamID string) (usage.Live, error) {
	return a.ledger.Live(teamID)
}
