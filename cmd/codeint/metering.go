package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/meter"
	"github.com/codeint/codeint/nodeagent/runc"
)

// metering is a node's usage metering: the meter over the sandboxes'
// cgroups, its durable log under DATA_DIR/usage, the agent front that
// starts and stops metering with the sandboxes, and the shipper that
// sends the records to the control plane (the sink, set once known).
type metering struct {
	log     *meter.Log
	meter   *meter.Meter
	front   *meter.Agent
	shipper *meter.Shipper
	sink    atomic.Pointer[meter.Sink]
	logger  *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool
}

// errNoSink: the shipper runs before the control plane is reachable.
var errNoSink = errors.New("usage sink not connected yet")

// openMetering opens the usage log before the agent's reconcile (it closes
// the intervals a crash left open) and meters what cgroup returns for a
// sandbox id.
func openMetering(dataDir, nodeID string, cgroup func(id string) (*runc.Cgroup, bool), log *slog.Logger) (*metering, error) {
	ul, err := meter.OpenLog(filepath.Join(dataDir, "usage"), meter.LogOptions{})
	if err != nil {
		return nil, fmt.Errorf("usage log: %w", err)
	}
	mt := &metering{log: ul, logger: log}
	onError := func(err error) { log.Warn("usage metering", "error", err) }
	if r := ul.Recovery(); r.CutBytes > 0 || len(r.Closed) > 0 {
		log.Info("usage log recovered", "event", "usage_log_recovered", "cut_bytes", r.CutBytes, "closed", len(r.Closed))
	}
	mt.meter, err = meter.New(meter.Config{NodeID: nodeID, Log: ul, Sampler: meter.CgroupSampler(cgroup), OnError: onError,
		LazyStart: true, OnFinal: func() { mt.shipper.Kick() }})
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("usage meter: %w", err)
	}
	mt.shipper, err = meter.NewShipper(meter.ShipperConfig{Log: ul, OnError: onError,
		Sink: meter.SinkFunc(func(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
			s := mt.sink.Load()
			if s == nil {
				return 0, errNoSink
			}
			return (*s).Ship(ctx, recs)
		})})
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("usage shipper: %w", err)
	}
	return mt, nil
}

// wrap meters the sandboxes of api.
func (mt *metering) wrap(api agentapi.Agent) agentapi.Agent {
	mt.front = meter.NewAgent(api, mt.meter, func(err error) { mt.logger.Warn("usage metering", "error", err) })
	return mt.front
}

// exited ends the metering of a sandbox that ended by itself.
func (mt *metering) exited(id string) {
	if mt.front != nil && !mt.closed.Load() {
		mt.front.Stopped(context.Background(), id, time.Now())
	}
}

// recoveredEnds are the sandboxes whose metering a crash cut short, each
// with the time its recovered Final record ends (the last checkpoint).
func (mt *metering) recoveredEnds() map[string]time.Time {
	if mt == nil {
		return nil
	}
	ends := map[string]time.Time{}
	for _, r := range mt.log.Recovery().Closed {
		ends[r.SandboxID] = r.End
	}
	return ends
}

// ship sets where records go: the control plane.
func (mt *metering) ship(s meter.Sink) { mt.sink.Store(&s) }

// run samples, meters and ships until close.
func (mt *metering) run() {
	ctx, cancel := context.WithCancel(context.Background())
	mt.cancel = cancel
	for _, f := range []func(context.Context){
		func(ctx context.Context) { _ = mt.meter.Run(ctx) },
		func(ctx context.Context) { _ = mt.shipper.Run(ctx) },
		mt.front.Run,
	} {
		mt.wg.Add(1)
		go func() { defer mt.wg.Done(); f(ctx) }()
	}
}

// close stops metering (a last checkpoint), ships once more and closes
// the log.
func (mt *metering) close() {
	if mt.closed.Swap(true) {
		return
	}
	if mt.cancel != nil {
		mt.cancel()
		mt.wg.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mt.shipper.Ship(ctx); err != nil && !errors.Is(err, errNoSink) {
		mt.logger.Warn("last usage shipment", "error", err)
	}
	if err := mt.log.Close(); err != nil {
		mt.logger.Warn("usage log close", "error", err)
	}
}

// storeSink commits a batch through a Raft store directly (codeint dev,
// whose one server is the leader).
func storeSink(nodeID string, apply func(ctx context.Context, t command.Type, req any) (any, error), log *slog.Logger) meter.Sink {
	return meter.SinkFunc(func(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
		res, err := apply(ctx, command.UsageIngest, command.UsageIngestRequest{NodeID: nodeID, Records: recs, At: time.Now()})
		if err != nil {
			return 0, err
		}
		r, ok := res.(*command.UsageIngestResult)
		if !ok {
			return 0, fmt.Errorf("usage ingest returned %T", res)
		}
		if r.Duplicates > 0 || r.Flagged > 0 {
			log.Info("usage batch ingested", "event", "usage_ingested", "applied", r.Applied,
				"duplicates", r.Duplicates, "flagged", r.Flagged, "seq", r.Seq)
		}
		return r.Seq, nil
	})
}

// rpcSink ships a batch to the first of the region's servers that takes
// it; the server commits it on the leader.
func rpcSink(nodeID string, servers func(context.Context) ([]string, error), dial *serverrpc.Pool) meter.Sink {
	return meter.SinkFunc(func(ctx context.Context, recs []structs.UsageRecord) (uint64, error) {
		addrs, err := servers(ctx)
		if err != nil {
			return 0, err
		}
		var errs []error
		for _, addr := range addrs {
			conn, err := dial.Conn(addr)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res, err := serverrpc.ShipUsage(ctx, serverpb.NewServerClient(conn), nodeID, recs)
			if err == nil {
				return res.Seq, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		return 0, fmt.Errorf("no server took the usage batch: %w", errors.Join(errs...))
	})
}
