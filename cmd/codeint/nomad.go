package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/codeint/codeint/controlplane/nomad"
	"github.com/codeint/codeint/placement"
)

// nomadFlags say how a server reaches Nomad, which schedules the region's
// agents: the watcher follows node drains, eligibility and downs; with a
// job, the scaler changes the agents' count.
type nomadFlags struct {
	addr, region, job, group string
	min, max                 int
	upBelow, downAbove       float64
	cooldown, interval       time.Duration
}

func (n *nomadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.addr, "nomad-addr", "", "Nomad's HTTP API (e.g. http://127.0.0.1:4646): follow its node drains; off when empty")
	fs.StringVar(&n.region, "nomad-region", "", "the Nomad region of this region's agents (default: Nomad's own)")
	fs.StringVar(&n.job, "nomad-job", "", "the agents' Nomad job: scale its count with free capacity; off when empty")
	fs.StringVar(&n.group, "nomad-group", "agent", "the task group of --nomad-job")
	fs.IntVar(&n.min, "scale-min", 1, "fewest agents the scaler keeps")
	fs.IntVar(&n.max, "scale-max", 10, "most agents the scaler asks for")
	fs.Float64Var(&n.upBelow, "scale-up-below", 0.2, "add agents when the free share of CPU or memory is under this")
	fs.Float64Var(&n.downAbove, "scale-down-above", 0.6, "remove agents when the free share of CPU and memory is above this")
	fs.DurationVar(&n.cooldown, "scale-cooldown", 3*time.Minute, "no change sooner than this after the last")
	fs.DurationVar(&n.interval, "scale-interval", 30*time.Second, "how often the scaler looks")
}

func (n nomadFlags) policy() nomad.Policy {
	return nomad.Policy{Job: n.job, Group: n.group, Min: n.min, Max: n.max, ScaleUpBelow: n.upBelow,
		ScaleDownAbove: n.downAbove, Step: 1, Cooldown: n.cooldown}
}

// check refuses flags the scaler could not work with, at start.
func (n nomadFlags) check() error {
	if n.job == "" {
		return nil
	}
	if n.addr == "" {
		return errors.New("--nomad-job needs --nomad-addr")
	}
	if err := n.policy().Validate(); err != nil {
		return fmt.Errorf("--nomad-job: %w", err)
	}
	return nil
}

// runNomad, on the leader until ctx ends, follows Nomad's nodes into the
// region's Raft (NodeDrain) and, with a job, scales it from the region's
// capacity summary.
func runNomad(ctx context.Context, n nomadFlags, log *slog.Logger, apply nomad.ApplyFunc, summary func() placement.Summary) {
	if n.addr == "" {
		return
	}
	client, err := api.NewClient(&api.Config{Address: n.addr, Region: n.region})
	if err != nil {
		log.Error("nomad client", "error", err)
		return
	}
	if n.job != "" {
		go scaleLoop(ctx, n, nomad.NewScaler(client, n.policy(), log), summary, log)
	}
	w := nomad.NewWatcher(nomad.WatcherConfig{Client: client, Region: n.region, Logger: log,
		Sink: nomad.DrainSink{Apply: apply, Logger: log}})
	if err := w.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("nomad watcher stopped", "error", err)
	}
}

func scaleLoop(ctx context.Context, n nomadFlags, s *nomad.Scaler, summary func() placement.Summary, log *slog.Logger) {
	t := time.NewTicker(n.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sum := summary()
		d, err := s.Check(ctx, nomad.Capacity{Region: n.region, Nodes: sum.Nodes,
			TotalVCPUs: sum.Capacity.VCPUs, FreeVCPUs: sum.Free.VCPUs,
			TotalMemoryMB: sum.Capacity.MemoryMB, FreeMemoryMB: sum.Free.MemoryMB})
		if err != nil {
			log.Warn("nomad scaling check failed", "error", err)
			continue
		}
		if d.Want != d.Current {
			log.Info("nomad agents scaled", "event", "agents_scaled", "from", d.Current, "to", d.Want, "reason", d.Reason)
		}
	}
}
