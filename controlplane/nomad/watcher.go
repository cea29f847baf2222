package nomad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/nomad/api"
)

// DefaultBackoff is the first wait after a failure when
// WatcherConfig.Backoff is zero; waits double up to MaxBackoff.
const DefaultBackoff = time.Second

// MaxBackoff caps the wait between two attempts (unless Backoff itself is
// larger).
const MaxBackoff = 30 * time.Second

// typeNodeDeregistration is the event type Nomad sends when a node is
// removed; its payload is the node as it was.
const typeNodeDeregistration = "NodeDeregistration"

// errStreamClosed is returned when Nomad ends the event stream without an
// error.
var errStreamClosed = errors.New("nomad: event stream closed")

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Client speaks to a Nomad server or client agent (required).
	Client *api.Client
	// Region is the Nomad region to query ("" lets the agent use its own).
	Region string
	// Sink receives the node states (required).
	Sink Sink
	// Logger receives the watcher's logs (discarded when nil).
	Logger *slog.Logger
	// Backoff is the first wait after a failure (DefaultBackoff when
	// zero); each further failure in a row doubles it, up to MaxBackoff.
	Backoff time.Duration
}

// Watcher follows the state of Nomad's nodes and reports each change of
// a codeint agent's node to a Sink. Create it with NewWatcher.
type Watcher struct {
	cfg WatcherConfig
	log *slog.Logger
}

// NewWatcher returns a watcher. It does not contact Nomad: call Run.
func NewWatcher(cfg WatcherConfig) *Watcher {
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, log: cfg.Logger.With("component", "nomad_watcher")}
}

// Run reports the state of every node to the Sink, then follows Nomad's
// event stream and reports each change, until ctx ends; it then returns
// ctx's error. A failure (of the list, the stream or the Sink) is logged
// and followed, after a backoff, by a fresh list, so a change missed
// while the stream was down is reported then. A state equal to the one
// last reported for the node (Index aside) is not reported again; each
// Run starts with no record, so it first reports every node. Run returns
// at once with an error when Client or Sink is nil.
func (w *Watcher) Run(ctx context.Context) error {
	if w.cfg.Client == nil || w.cfg.Sink == nil {
		return errors.New("nomad: watcher needs a Client and a Sink")
	}
	t := &tracker{sink: w.cfg.Sink, log: w.log, known: map[string]NodeState{}}
	failures := 0
	for {
		opened, err := w.follow(ctx, t)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if opened {
			failures = 0 // Nomad and the Sink were fine: start the backoff over
		}
		failures++
		wait := backoff(w.cfg.Backoff, failures)
		w.log.Warn("nomad node watch interrupted; listing again",
			"event", "watch_retry", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// follow lists the nodes, reports them, then follows the event stream
// from the list's index until something fails. opened tells whether the
// stream was opened; err is why following stopped.
func (w *Watcher) follow(ctx context.Context, t *tracker) (opened bool, err error) {
	index, err := w.sync(ctx, t)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the api client's reading goroutine
	topics := map[api.Topic][]string{api.TopicNode: {"*"}}
	stream, err := w.cfg.Client.EventStream().Stream(ctx, topics, index+1, &api.QueryOptions{Region: w.cfg.Region})
	if err != nil {
		return false, fmt.Errorf("nomad: open event stream at index %d: %w", index+1, err)
	}
	w.log.Debug("following nomad node events", "event", "stream_open", "index", index+1)
	for frame := range stream {
		if frame.Err != nil {
			return true, fmt.Errorf("nomad: event stream: %w", frame.Err)
		}
		if frame.IsHeartbeat() {
			continue
		}
		for i := range frame.Events {
			if err := w.event(ctx, t, &frame.Events[i]); err != nil {
				return true, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return true, err
	}
	return true, errStreamClosed
}

// sync lists the nodes, reads each one (the list's stubs carry no Meta,
// which names the agent), reports their states and reports DOWN the
// nodes reported before that Nomad no longer lists. It returns the list's
// raft index.
func (w *Watcher) sync(ctx context.Context, t *tracker) (uint64, error) {
	nodes := w.cfg.Client.Nodes()
	stubs, meta, err := nodes.List(w.query(ctx))
	if err != nil {
		return 0, fmt.Errorf("nomad: list nodes: %w", err)
	}
	listed := make(map[string]bool, len(stubs))
	for _, stub := range stubs {
		n, _, err := nodes.Info(stub.ID, w.query(ctx))
		if isNotFound(err) {
			continue // deregistered since the list: reported below if known
		}
		if err != nil {
			return 0, fmt.Errorf("nomad: read node %s: %w", stub.ID, err)
		}
		if n.ID == "" {
			n.ID = stub.ID
		}
		listed[n.ID] = true
		s, ok := stateOf(n, n.ModifyIndex, false)
		if !ok {
			t.forget(n.ID)
			continue
		}
		if err := t.report(ctx, s, false); err != nil {
			return 0, err
		}
	}
	for _, s := range t.missing(listed) {
		s.Down, s.Index = true, meta.LastIndex
		if err := t.report(ctx, s, true); err != nil {
			return 0, err
		}
	}
	return meta.LastIndex, nil
}

// event reports the node an event of the Node topic carries. An event the
// watcher has already seen the effect of (from a list, at a later index)
// is skipped.
func (w *Watcher) event(ctx context.Context, t *tracker, e *api.Event) error {
	if e.Topic != api.TopicNode {
		return nil
	}
	n, err := e.Node()
	if err != nil {
		return fmt.Errorf("nomad: decode %s event of node %s at index %d: %w", e.Type, e.Key, e.Index, err)
	}
	if n == nil {
		return nil
	}
	if n.ID == "" {
		n.ID = e.Key
	}
	if t.stale(n.ID, e.Index) {
		return nil
	}
	gone := e.Type == typeNodeDeregistration
	s, ok := stateOf(n, e.Index, gone)
	if !ok {
		t.forget(n.ID)
		return nil
	}
	return t.report(ctx, s, gone)
}

// query returns the options of one read.
func (w *Watcher) query(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{Region: w.cfg.Region}).WithContext(ctx)
}

// isNotFound reports whether err is Nomad's 404.
func isNotFound(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && ue.StatusCode() == http.StatusNotFound
}

// backoff is the wait before attempt n+1 after n failures in a row: base,
// doubled for each further failure, capped at MaxBackoff (or base when
// larger).
func backoff(base time.Duration, failures int) time.Duration {
	limit := max(base, MaxBackoff)
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
