package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
)

// Store is one server's replica of the region's Raft state.
type Store struct {
	cfg   Config
	log   *slog.Logger
	state *state.Store
	fsm   *fsm
	// applied is the index of the last command the state machine applied
	// or the snapshot it restored (see WaitApplied).
	applied *appliedIndex

	raft      *raft.Raft
	wal       *wal.WAL
	meta      *metadb.BoltMetaDB
	snaps     raft.SnapshotStore
	transport raft.Transport
	addr      raft.ServerAddress

	closeOnce sync.Once
	closeErr  error
}

// New checks the configuration and returns a store that is not open yet.
func New(cfg Config) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	st, err := state.New()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	log := cfg.Logger.With("component", "store", "node", cfg.NodeID)
	return &Store{
		cfg:     cfg,
		log:     log,
		state:   st,
		fsm:     &fsm{state: st, onEvent: cfg.OnSandboxEvent, onNodeEvent: cfg.OnNodeEvent, log: log},
		applied: &appliedIndex{},
	}, nil
}

// Open opens the log, the stable store, the snapshots and the transport and
// starts Raft. The latest snapshot is restored at once; the log after it is
// replayed when a leader commits (see WaitForLeader).
func (s *Store) Open() (err error) {
	if s.raft != nil {
		return errors.New("store: already open")
	}
	hlog := newHCLogger(s.cfg.Logger.With("component", "raft", "node", s.cfg.NodeID))
	defer func() {
		if err != nil {
			s.closeParts()
		}
	}()

	s.wal, s.meta, err = openLog(filepath.Join(s.cfg.Dir, "raft"), hlog.Named("wal"))
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, snapshotsRetained, hlog.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("store: open snapshots: %w", err)
	}
	s.snaps = trackedSnapshots{snaps}
	if err := s.openTransport(hlog); err != nil {
		return err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.Logger = hlog
	rc.NoLegacyTelemetry = true
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = maxAppendEntries
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, s.cfg.HeartbeatTimeout)
	r, err := raft.NewRaft(rc, &trackedFSM{fsm: s.fsm, applied: s.applied}, trimmedLog{s.wal}, s.wal, s.snaps, s.transport)
	if err != nil {
		return fmt.Errorf("store: start raft: %w", err)
	}
	s.raft = r
	s.log.Info("raft started", "dir", s.cfg.Dir, "addr", s.addr)
	return nil
}

func (s *Store) openTransport(hlog hclog.Logger) error {
	if s.cfg.BindAddr == "" {
		s.addr, s.transport = raft.NewInmemTransport(raft.ServerAddress(s.cfg.NodeID))
		return nil
	}
	var adv net.Addr
	if s.cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", s.cfg.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("store: advertise address: %w", err)
		}
		adv = a
	}
	var t *raft.NetworkTransport
	var err error
	if s.cfg.TLS != nil {
		t, err = newTLSTransport(s.cfg.BindAddr, adv, s.cfg.TLS, hlog.Named("transport"))
	} else {
		t, err = raft.NewTCPTransportWithLogger(s.cfg.BindAddr, adv, tcpMaxPool, tcpTimeout, hlog.Named("transport"))
	}
	if err != nil {
		return fmt.Errorf("store: raft transport on %s: %w", s.cfg.BindAddr, err)
	}
	s.addr, s.transport = t.LocalAddr(), t
	return nil
}

// Addr returns the Raft address of this server.
func (s *Store) Addr() string { return string(s.addr) }

// NodeID returns this server's Raft id.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// WaitForLeader waits until the cluster has a leader. When this server is
// the leader it also waits until every committed entry has been applied
// locally, so that State reflects the whole log (after a restart, the log
// after the latest snapshot is replayed only now).
func (s *Store) WaitForLeader(timeout time.Duration) error {
	if s.raft == nil {
		return ErrNotOpen
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if s.LeaderAddr() != "" {
			if !s.IsLeader() {
				return nil
			}
			remaining := time.Until(deadline)
			if remaining <= 0 {
				break
			}
			err := s.raft.Barrier(remaining).Error()
			if err == nil {
				return nil
			}
			if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
				return s.raftError(err)
			}
		}
		if time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	return fmt.Errorf("%w: no leader after %v", ErrTimeout, timeout)
}

// IsLeader reports whether this server is the leader.
func (s *Store) IsLeader() bool {
	return s.raft != nil && s.raft.State() == raft.Leader
}

// LeaderAddr returns the leader's Raft address, or "" when none is known.
func (s *Store) LeaderAddr() string {
	if s.raft == nil {
		return ""
	}
	addr, _ := s.raft.LeaderWithID()
	return string(addr)
}

// LeaderID returns the leader's node id, or "" when none is known.
func (s *Store) LeaderID() string {
	if s.raft == nil {
		return ""
	}
	_, id := s.raft.LeaderWithID()
	return string(id)
}

// AppliedIndex returns the index of the last entry applied: once Apply
// has returned, at least that command's index. (Raft counts an entry when
// it hands it to the state machine, which may be a moment before or after
// the state machine has applied it; this is the later of the two.)
func (s *Store) AppliedIndex() uint64 {
	if s.raft == nil {
		return 0
	}
	applied, _ := s.applied.get()
	return max(applied, s.raft.AppliedIndex())
}

// State returns the replicated state, for reads. It stays the same object
// across snapshot restores.
func (s *Store) State() *state.Store { return s.state }

// Apply commits a command and returns the state machine's result for it
// (for SandboxCreate and SandboxUpdate, the sandbox as it now is, a copy
// the caller may keep). A business error of the state machine is returned
// as is (it carries its apperr code). On a server that is not the leader
// the error is UNAVAILABLE wrapping ErrNotLeader.
//
// ctx bounds the wait to enqueue the command; once queued, Apply waits for
// the commit, which Raft bounds (a leader that cannot commit steps down).
func (s *Store) Apply(ctx context.Context, t command.Type, req any) (any, error) {
	b, err := command.Encode(t, req)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if s.raft == nil {
		return nil, coded(apperr.Unavailable, ErrNotOpen, "the store is not open")
	}
	if s.raft.State() != raft.Leader {
		return nil, s.notLeader()
	}
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil || timeout <= 0 {
		return nil, coded(apperr.DeadlineExceeded, ErrTimeout, "the request ended before the command was committed")
	}
	f := s.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		return nil, s.raftError(err)
	}
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// TakeSnapshot snapshots the state now and lets Raft trim the log. On a
// store that has applied nothing yet it does nothing.
func (s *Store) TakeSnapshot() error {
	if s.raft == nil {
		return ErrNotOpen
	}
	err := s.raft.Snapshot().Error()
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// Close stops Raft and closes the transport, the log and the stable store.
// It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.raft != nil {
			if err := s.raft.Shutdown().Error(); err != nil {
				s.closeErr = fmt.Errorf("store: shutdown raft: %w", err)
			}
		}
		s.closeErr = errors.Join(s.closeErr, s.closeParts())
		s.log.Info("store closed")
	})
	return s.closeErr
}

// closeParts closes what Open opened besides Raft itself.
func (s *Store) closeParts() error {
	var errs []error
	if c, ok := s.transport.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if s.wal != nil {
		errs = append(errs, s.wal.Close())
	}
	if s.meta != nil {
		errs = append(errs, s.meta.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
