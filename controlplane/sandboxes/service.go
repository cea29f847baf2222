package sandboxes

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/agents"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/events"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/telemetry"
	"github.com/codeint/codeint/placement"
)

var tracer = otel.Tracer("github.com/codeint/codeint/controlplane/sandboxes")

// Store is what the service needs of the Raft store.
type Store interface {
	Apply(ctx context.Context, t command.Type, req any) (any, error)
	State() *state.Store
}

// Config wires a Service.
type Config struct {
	Store           Store
	Agents          *agents.Registry
	Broker          *events.Broker
	Metrics         *telemetry.Metrics // may be nil
	Logger          *slog.Logger
	Region          string
	Templates       []Template
	DefaultTemplate string // the first template when empty
	Limits          Limits
	// Placement tunes placement; the zero value is placement's default.
	Placement placement.Config
	// Leader, on a server of a region of several, reaches the leader, which
	// places; nil when this server always places (one server).
	Leader Leader
	// Live returns what a node's heartbeats say of it now (the leader
	// knows); nil or ok false when unknown here.
	Live func(nodeID string) (LiveNode, bool)
	// Regions lists every region with its network coordinate and, for the
	// others, their capacity summary; nil when this region is alone.
	Regions        func() []placement.Region
	Now            func() time.Time // time.Now when nil
	ExpiryInterval time.Duration    // how often lifetimes are checked; 250 ms when zero
	// Remote reaches the sandboxes of other regions; nil in a region of
	// its own.
	Remote RemoteSandboxes
	// CatchUp, when set, waits until this server has applied everything
	// the region's leader had committed (a linearizable barrier). A
	// lookup that misses, or finds a sandbox still CREATING, catches up
	// once and looks again: a client that created a sandbox through one
	// server and uses it through another the next instant must find it.
	CatchUp func(ctx context.Context) error
	// EnforceExpiry says whether this server stops sandboxes whose
	// lifetime ran out now: in a region only the leader does, so that one
	// expiry is one stop. Nil means always (one server).
	EnforceExpiry func() bool
	// Budgets says where teams stand against their spend limits: creates
	// of an exhausted team are refused and, where EnforceExpiry holds,
	// its running sandboxes stopped. Nil: no limits.
	Budgets Budgets
	// BudgetInterval is how often running sandboxes' teams are checked;
	// 2 s when zero.
	BudgetInterval time.Duration
}

// Service implements API.
type Service struct {
	cfg Config
	log *slog.Logger

	placeMu  sync.Mutex
	reserved map[string]reservation // sandbox id → what its create holds

	mu        sync.Mutex
	executing map[string]int // sandbox id → executions running on this server
	stopping  map[string]bool
	closed    bool
	budgets   map[string]billing.BudgetStatus // team → status last seen by enforceBudgets
}

var _ API = (*Service)(nil)

// New returns a service; call Run to enforce lifetimes.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = 250 * time.Millisecond
	}
	if cfg.BudgetInterval <= 0 {
		cfg.BudgetInterval = 2 * time.Second
	}
	if cfg.DefaultTemplate == "" && len(cfg.Templates) > 0 {
		cfg.DefaultTemplate = cfg.Templates[0].Name
	}
	return &Service{cfg: cfg, log: cfg.Logger, executing: map[string]int{}, stopping: map[string]bool{},
		reserved: map[string]reservation{}, budgets: map[string]billing.BudgetStatus{}}
}

func newID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the kernel's RNG failing is not recoverable
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// update commits a change to a sandbox, now, and returns it as committed.
func (s *Service) update(ctx context.Context, req command.SandboxUpdateRequest) (*structs.Sandbox, error) {
	req.At = s.cfg.Now()
	return s.updateAt(ctx, req)
}

// updateAt commits a change to a sandbox at req.At (now when zero).
func (s *Service) updateAt(ctx context.Context, req command.SandboxUpdateRequest) (*structs.Sandbox, error) {
	if req.At.IsZero() {
		req.At = s.cfg.Now()
	}
	resp, err := s.cfg.Store.Apply(ctx, command.SandboxUpdate, req)
	if err != nil {
		return nil, err
	}
	sb, ok := resp.(*structs.Sandbox)
	if !ok {
		return nil, fmt.Errorf("sandbox update of %s returned %T", req.ID, resp)
	}
	return sb, nil
}

// Get returns a team's sandbox.
func (s *Service) Get(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	if sb := s.local(teamID, id); sb != nil {
		return s.view(sb), nil
	}
	if s.catchUp(ctx) {
		if sb := s.local(teamID, id); sb != nil {
			return s.view(sb), nil
		}
	}
	return s.locate(ctx, teamID, id)
}

// catchUp runs CatchUp and reports whether this server may now hold newer
// state.
func (s *Service) catchUp(ctx context.Context) bool {
	return s.cfg.CatchUp != nil && s.cfg.CatchUp(ctx) == nil
}

// getStarted is Get for operations that need a started sandbox: one seen
// CREATING is read again after catching up with the leader, since it may
// have started already.
func (s *Service) getStarted(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	sb, err := s.Get(ctx, teamID, id)
	if err != nil || sb.State != structs.SandboxCreating || sb.Region != s.cfg.Region || !s.catchUp(ctx) {
		return sb, err
	}
	return s.Get(ctx, teamID, id)
}

// view returns what callers see: the committed record, EXECUTING while
// this server runs code in it.
func (s *Service) view(sb *structs.Sandbox) *structs.Sandbox {
	s.mu.Lock()
	busy := s.executing[sb.ID] > 0
	s.mu.Unlock()
	if busy && sb.State == structs.SandboxRunning {
		c := sb.Copy()
		c.State = structs.SandboxExecuting
		return c
	}
	return sb
}

// defaultPageSize and maxPageSize bound List.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// List pages through a team's sandboxes, newest first.
func (s *Service) List(_ context.Context, teamID string, q ListQuery) (Page, error) {
	if q.State != nil && !q.State.Valid() {
		return Page{}, invalid("unknown state %q", *q.State)
	}
	first := q.First
	switch {
	case first < 0:
		return Page{}, invalid("first must not be negative, got %d", first)
	case first == 0:
		first = defaultPageSize
	case first > maxPageSize:
		return Page{}, invalid("first must be at most %d, got %d", maxPageSize, first)
	}
	afterID := ""
	if q.After != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.After)
		if err != nil {
			return Page{}, invalid("after %q is not a cursor from this API", q.After)
		}
		afterID = string(b)
	}
	var all []*structs.Sandbox
	for _, sb := range s.cfg.Store.State().Snapshot().SandboxesByTeam(teamID) {
		v := s.view(sb)
		if q.State == nil || v.State == *q.State {
			all = append(all, v)
		}
	}
	page := Page{TotalCount: len(all)}
	startAt := 0
	if afterID != "" {
		startAt = -1
		for i, sb := range all {
			if sb.ID == afterID {
				startAt = i + 1
				break
			}
		}
		if startAt < 0 {
			return Page{}, invalid("after %q does not point at a sandbox of this list", q.After)
		}
	}
	end := min(startAt+first, len(all))
	page.Sandboxes = all[startAt:end]
	page.HasNextPage = end < len(all)
	if len(page.Sandboxes) > 0 {
		page.EndCursor = Cursor(page.Sandboxes[len(page.Sandboxes)-1].ID)
	}
	return page, nil
}

// Cursor is the opaque cursor of a sandbox in a list.
func Cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// SetTimeout makes the sandbox expire seconds from now.
func (s *Service) SetTimeout(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error) {
	if r := s.remote(ctx); r != nil && !s.holds(ctx, teamID, id) {
		return r.SetTimeout(ctx, teamID, id, seconds)
	}
	sb, err := s.Get(ctx, teamID, id)
	if err != nil {
		return nil, err
	}
	max := s.cfg.Limits.MaxTimeout
	if seconds <= 0 || time.Duration(seconds)*time.Second > max {
		return nil, invalid("timeoutSeconds must be between 1 and %d, got %d", int(max.Seconds()), seconds)
	}
	if sb.State.Terminal() {
		return nil, describeStopped(sb)
	}
	expires := s.cfg.Now().Add(time.Duration(seconds) * time.Second)
	updated, err := s.update(ctx, command.SandboxUpdateRequest{ID: id, ExpiresAt: &expires, TimeoutSeconds: &seconds,
		ExpectStates: []structs.SandboxState{structs.SandboxCreating, structs.SandboxRunning}})
	if err != nil {
		return nil, fmt.Errorf("set timeout of %s: %w", id, err)
	}
	return s.view(updated), nil
}

// Events streams a team's sandbox events.
func (s *Service) Events(ctx context.Context, teamID, sandboxID string) (<-chan structs.SandboxEvent, error) {
	if sandboxID != "" {
		if _, err := s.Get(ctx, teamID, sandboxID); err != nil {
			return nil, err
		}
	}
	return s.cfg.Broker.Subscribe(ctx, events.Filter{TeamID: teamID, SandboxID: sandboxID}), nil
}
