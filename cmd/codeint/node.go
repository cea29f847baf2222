package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agent"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/pool"
	"github.com/codeint/codeint/nodeagent/runc"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// nodeFlags are the flags of a node agent, shared by `codeint dev` and
// `codeint agent`.
type nodeFlags struct {
	nodeID       string
	region       string
	zone         string
	runc         string
	runsc        string
	envd         string
	cgroupParent string
	cpuWeight    uint64
	nodeVCPUs    float64
	nodeMemoryMB int
	labels       labelFlag

	poolSize        int
	poolAdaptive    bool
	poolMax         int
	poolMaxMemoryMB int
}

func (n *nodeFlags) register(fs *flag.FlagSet, defaultNodeID string) {
	fs.StringVar(&n.nodeID, "node-id", defaultNodeID, "node id of the agent, unique in the region and stable across restarts")
	fs.StringVar(&n.region, "region", "local", "region name")
	fs.StringVar(&n.zone, "zone", "", "zone of the node inside its region (optional)")
	fs.StringVar(&n.runc, "runc", "runc", "runc binary")
	fs.StringVar(&n.runsc, "runsc", "runsc", "gVisor's runsc binary (runtime GVISOR; optional)")
	fs.StringVar(&n.envd, "envd", "", "envd binary (default: envd next to this binary)")
	fs.Float64Var(&n.nodeVCPUs, "node-vcpus", float64(4*runtime.NumCPU()), "vCPUs the node offers to sandboxes (overcommitted)")
	fs.IntVar(&n.nodeMemoryMB, "node-memory-mb", hostMemoryMB(), "memory the node offers to sandboxes")
	fs.IntVar(&n.poolSize, "pool-size", 2, "warm sandboxes kept ready for the default shape (0: none; with --pool-adaptive, the minimum)")
	fs.BoolVar(&n.poolAdaptive, "pool-adaptive", false, "size the warm pool from the recent create rate, between --pool-size and --pool-max")
	fs.IntVar(&n.poolMax, "pool-max", 16, "the most warm sandboxes an adaptive pool keeps")
	fs.IntVar(&n.poolMaxMemoryMB, "pool-max-memory-mb", 8192, "bound on the memory all warm sandboxes may hold")
	fs.StringVar(&n.cgroupParent, "cgroup-parent", "codeint", "cgroup under which sandboxes run; the agent owns everything below it")
	fs.Uint64Var(&n.cpuWeight, "sandbox-cpu-weight", runc.DefaultParentCPUWeight,
		"CPU weight of --cgroup-parent against the host's other processes, 1..10000 (cgroup v2 units, converted to cpu.shares on v1; 1 lets the platform's own work go first)")
	fs.Var(&n.labels, "label", "KEY=VALUE label of the node, for createSandbox's nodeSelector (repeatable)")
}

// labelFlag collects repeated KEY=VALUE node labels.
type labelFlag map[string]string

func (l *labelFlag) String() string {
	parts := make([]string, 0, len(*l))
	for k, v := range *l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// labels lists the labels for the API, by key.
func (l labelFlag) labels() []codeint.Label {
	out := make([]codeint.Label, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		out = append(out, codeint.Label{Key: k, Value: l[k]})
	}
	return out
}

func (l *labelFlag) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q: want KEY=VALUE", kv)
	}
	if *l == nil {
		*l = labelFlag{}
	}
	(*l)[k] = v
	return nil
}

// localNode is a node agent running in this process, with its warm pool.
type localNode struct {
	agent    *agent.Agent
	metering *metering
	warm     *pool.Agent    // nil without warm pools
	api      agentapi.Agent // warm when there is a pool, else agent
}

// startNode starts the node agent under dataDir/agent, kills what an
// earlier run left on the host, and starts its warm pool. onExit hears of
// every sandbox that ended by itself.
func startNode(ctx context.Context, nf nodeFlags, dataDir string, limits sandboxes.Limits, log *slog.Logger, onExit agentapi.ExitFunc) (_ *localNode, cleaned []string, err error) {
	n := &localNode{}
	// A sandbox that ends by itself stops being metered first.
	userExit := onExit
	onExit = func(id, reason string) {
		if n.metering != nil {
			n.metering.exited(id)
		}
		userExit(id, reason)
	}
	// Exits of warm slots go through the pool, which knows which sandbox a
	// slot serves; before the pool exists every exit is a sandbox's.
	var warm atomic.Pointer[pool.Agent]
	innerExit := func(id, reason string) {
		if w := warm.Load(); w != nil {
			w.InnerExited(id, reason)
			return
		}
		onExit(id, reason)
	}
	n.agent, err = agent.New(agent.Config{NodeID: nf.nodeID, DataDir: filepath.Join(dataDir, "agent"),
		RuncPath: nf.runc, RunscPath: nf.runsc, EnvdPath: nf.envd, CgroupParent: nf.cgroupParent,
		ParentCPUWeight: nf.cpuWeight, Logger: log.With("component", "agent"), OnExit: innerExit})
	if err != nil {
		return nil, nil, fmt.Errorf("node agent: %w", err)
	}
	defer func() {
		if err != nil {
			n.close(log)
		}
	}()
	// The usage log is opened before the reconcile kills what an earlier
	// run left: it closes the intervals that run left open.
	n.metering, err = openMetering(dataDir, nf.nodeID, func(id string) (*runc.Cgroup, bool) {
		if w := warm.Load(); w != nil {
			id = w.Target(id)
		}
		return n.agent.Cgroup(id)
	}, log.With("component", "meter"))
	if err != nil {
		return nil, nil, err
	}
	cleaned, err = n.agent.Reconcile(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reconcile node: %w", err)
	}
	n.api = n.agent
	if nf.poolSize > 0 || nf.poolAdaptive {
		n.warm, err = pool.NewAgent(pool.AgentConfig{Inner: n.agent, OnExit: onExit,
			Pool: pool.Config{Pools: map[pool.Key]pool.Spec{defaultPoolKey(limits): poolSpec(nf)},
				MaxTotalMemoryMB: nf.poolMaxMemoryMB, Logger: log.With("component", "pool")}})
		if err != nil {
			return nil, nil, fmt.Errorf("warm pool: %w", err)
		}
		warm.Store(n.warm)
		n.api = n.warm
	}
	n.api = n.metering.wrap(n.api)
	n.metering.run()
	return n, cleaned, nil
}

// describe is the node as the control plane records it.
func (n *localNode) describe(nf nodeFlags, rpcAddr string) structs.Node {
	return structs.Node{ID: nf.nodeID, Region: nf.region, Zone: nf.zone, RPCAddr: rpcAddr, Status: structs.NodeReady,
		VCPUs: nf.nodeVCPUs, MemoryMB: nf.nodeMemoryMB, DiskMB: 100 * 1024, Templates: []string{"base"},
		Runtimes: nodeRuntimes(nf), Labels: maps.Clone(map[string]string(nf.labels)), UpdatedAt: time.Now()}
}

// close stops metering (its last checkpoint closes the running
// sandboxes' intervals at the next start), then the pool and the agent,
// killing their sandboxes.
func (n *localNode) close(log *slog.Logger) {
	if n.metering != nil {
		n.metering.close()
	}
	if n.warm != nil {
		if err := n.warm.Close(context.Background()); err != nil {
			log.Warn("warm pool close", "error", err)
		}
	}
	if n.agent != nil {
		if err := n.agent.Close(); err != nil {
			log.Warn("agent close", "error", err)
		}
	}
}

// defaultPoolKey is the shape of a sandbox created with the defaults: the
// one a node keeps warm.
func defaultPoolKey(l sandboxes.Limits) pool.Key {
	return pool.Key{Template: "base", Runtime: agentapi.RuntimeRunc, VCPUs: l.DefaultVCPUs,
		MemoryMB: l.DefaultMemoryMB, DiskMB: l.DefaultDiskMB}
}

func poolSpec(nf nodeFlags) pool.Spec {
	if nf.poolAdaptive {
		return pool.Spec{Adaptive: true, Min: nf.poolSize, Max: nf.poolMax}
	}
	return pool.Spec{Size: nf.poolSize}
}

// nodeRuntimes lists the OCI runtimes installed on this node.
func nodeRuntimes(nf nodeFlags) []string {
	rts := []string{sandboxes.RuntimeRunc}
	if _, err := exec.LookPath(nf.runsc); err == nil {
		rts = append(rts, sandboxes.RuntimeGVisor)
	}
	return rts
}

// resolvePaths checks the flags that need it, defaults --envd to the envd
// next to this binary and makes the data dir absolute (sandbox bundles
// name it in their mounts).
func (n *nodeFlags) resolvePaths(dataDir *string) error {
	if err := runc.CheckParentCPUWeight(n.cpuWeight); err != nil {
		return fmt.Errorf("--sandbox-cpu-weight: %w", err)
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	*dataDir = abs
	if n.envd != "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find envd: %w", err)
	}
	n.envd = filepath.Join(filepath.Dir(exe), "envd")
	return nil
}
