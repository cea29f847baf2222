package store

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/structs"
)

// Defaults for zero Config fields.
const (
	DefaultSnapshotInterval  = 120 * time.Second
	DefaultSnapshotThreshold = 8192
	DefaultApplyTimeout      = 10 * time.Second
	DefaultHeartbeatTimeout  = time.Second
	DefaultElectionTimeout   = time.Second

	snapshotsRetained = 2
	maxAppendEntries  = 512 // entries per disk write and per replication RPC
	tcpMaxPool        = 3
	tcpTimeout        = 10 * time.Second
	pollInterval      = 5 * time.Millisecond // for waits on what Raft does not signal
)

// Config configures a Store.
type Config struct {
	// NodeID is this server's Raft id, unique and stable across restarts.
	NodeID string
	// Dir holds the raft-wal log and stable store (Dir/raft) and the
	// snapshots (Dir/snapshots).
	Dir string
	// BindAddr is the Raft TCP address ("host:port"). Empty means an
	// in-memory transport: a single-node cluster (dev) whose log is still
	// on disk.
	BindAddr string
	// AdvertiseAddr is the address other servers dial, when BindAddr is not
	// reachable as is (e.g. 0.0.0.0:7000). Empty means BindAddr.
	AdvertiseAddr string
	// TLS, when set with BindAddr, runs Raft over mutual TLS: the same
	// config serves the listener and the dialer, so it needs a certificate
	// valid for both server and client use, RootCAs and ClientCAs, and
	// ClientAuth = tls.RequireAndVerifyClientCert. The dialer checks the
	// peer's certificate against ServerName, or against the host of the
	// address it dials when ServerName is empty. Nil means plain TCP. It is
	// ignored without BindAddr (the in-memory transport has no network).
	TLS *tls.Config
	// Logger receives the store's and Raft's logs. Nil discards them.
	Logger *slog.Logger
	// OnSandboxEvent is called after each applied change to a sandbox,
	// including during log replay at start, in log order, on the state
	// machine's goroutine: it must not block. The event's Sandbox is shared
	// with the state: read-only. It is not called for a snapshot restore.
	OnSandboxEvent func(structs.SandboxEvent)
	// OnNodeEvent is called, like OnSandboxEvent, after a node registered,
	// went DOWN (with the sandboxes it lost) or came back READY.
	OnNodeEvent func(structs.NodeEvent)
	// SnapshotInterval and SnapshotThreshold: Raft checks every interval
	// and snapshots when more than threshold entries are new.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	// TrailingLogs is how many entries Raft keeps in the log after a
	// snapshot, so that a follower a little behind catches up from the log;
	// one further behind is sent the snapshot. Zero means Raft's default.
	TrailingLogs uint64
	// ApplyTimeout bounds Apply when the context has no earlier deadline.
	ApplyTimeout time.Duration
	// HeartbeatTimeout and ElectionTimeout are Raft's; a follower that
	// hears no leader for about this long starts an election.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = DefaultApplyTimeout
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = raft.DefaultConfig().TrailingLogs
	}
}

// check reports a configuration that cannot work.
func (c *Config) check() error {
	if c.NodeID == "" {
		return errors.New("store: NodeID is required")
	}
	if c.Dir == "" {
		return errors.New("store: Dir is required")
	}
	if c.TLS != nil && c.BindAddr != "" {
		if err := checkTLS(c.TLS); err != nil {
			return err
		}
	}
	return nil
}
