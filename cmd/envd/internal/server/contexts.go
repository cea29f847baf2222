package server

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/codeint/codeint/nodeagent/toolchain"
)

// Code-interpreter contexts (envdproto.ContextRequest, and ExecRequest
// with a ContextID): long-lived interpreters, driven by package kernel,
// that keep their state between cells.
//
//	contexts.go         the table and the context operations
//	contexts_interp.go  one interpreter process: start, interrupt, stop
//	contexts_exec.go    running a cell: timeout, cancel, death, Result
//
// An interpreter runs as the user, in a process group of its own, with an
// execution gid the context holds for its whole life (the gid outlives
// restarts), so stopping it kills every process it started. A context's
// interpreter that dies mid-cell is started afresh at once (the cell's
// Result says CONTEXT_DIED and ContextRestarted); one that dies while
// idle is started afresh by the next cell, whose Result then has
// ContextRestarted set (the cell ran, in a fresh interpreter).

// maxContextID bounds the length of a context ID a caller chooses.
const maxContextID = 64

// contextTable holds the code-interpreter contexts. Safe for concurrent
// use. Lock order: contextTable.mu is never held while taking a
// context's locks.
type contextTable struct {
	mu   sync.Mutex
	seq  uint64
	byID map[string]*interpContext
}

func newContextTable() *contextTable {
	return &contextTable{byID: make(map[string]*interpContext)}
}

// interpContext is one context.
type interpContext struct {
	id, lang, cwd string
	env           map[string]string // the create request's, validated
	seq           uint64            // creation order, for list
	created       time.Time
	group         int // execution gid for the context's life; 0 without RunAs

	// life serializes starting and stopping interpreters (create,
	// restart, remove, a cell's restart after a death). It is taken
	// before mu.
	life sync.Mutex

	mu      sync.Mutex
	cur     *interp // the running interpreter; nil when none
	busy    bool    // a cell runs (or waits to start its interpreter)
	removed bool
}

// current returns the running interpreter, or nil.
func (c *interpContext) current() *interp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (c *interpContext) setCurrent(it *interp) {
	c.mu.Lock()
	c.cur = it
	c.mu.Unlock()
}

// acquire marks a cell running; false when one already is.
func (c *interpContext) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy {
		return false
	}
	c.busy = true
	return true
}

func (c *interpContext) release() {
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
}

func (c *interpContext) info() envdproto.ContextInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return envdproto.ContextInfo{ID: c.id, Language: c.lang, Cwd: c.cwd, CreatedAtNS: c.created.UnixNano(), Busy: c.busy}
}

func (t *contextTable) get(id string) *interpContext {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// add registers c under its ID, or under a new "ctx_<n>" when it has
// none; false when the ID is taken.
func (t *contextTable) add(c *interpContext) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	c.seq = t.seq
	if c.id == "" {
		for n := t.seq; ; n++ {
			if id := "ctx_" + strconv.FormatUint(n, 10); t.byID[id] == nil {
				c.id = id
				break
			}
		}
	}
	if t.byID[c.id] != nil {
		return false
	}
	t.byID[c.id] = c
	return true
}

func (t *contextTable) remove(c *interpContext) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[c.id] == c {
		delete(t.byID, c.id)
	}
}

// all returns every context in creation order.
func (t *contextTable) all() []*interpContext {
	t.mu.Lock()
	cs := make([]*interpContext, 0, len(t.byID))
	for _, c := range t.byID {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	slices.SortFunc(cs, func(a, b *interpContext) int { return cmp.Compare(a.seq, b.seq) })
	return cs
}

// contextRequest serves one ContextRequest.
func (s *Server) contextRequest(stream net.Conn, req *envdproto.ContextRequest) {
	if req.Op == envdproto.ContextCreate {
		s.createContext(stream, req)
		return
	}
	if req.Op == envdproto.ContextList {
		infos := []envdproto.ContextInfo{}
		for _, c := range s.ctxs.all() {
			infos = append(infos, c.info())
		}
		s.writeContextReply(stream, infos...)
		return
	}
	switch req.Op {
	case envdproto.ContextRestart, envdproto.ContextRemove, envdproto.ContextInterrupt:
	default:
		s.writeError(stream, envdproto.CodeInvalidArgument, fmt.Sprintf("unknown context op %q", req.Op))
		return
	}
	c := s.ctxs.get(req.ID)
	if c == nil {
		s.writeError(stream, envdproto.CodeNotFound, fmt.Sprintf("context %q not found", req.ID))
		return
	}
	switch req.Op {
	case envdproto.ContextRestart:
		if err := s.restartContext(c); err != nil {
			s.writeContextError(stream, c, err)
			return
		}
		s.writeContextReply(stream, c.info())
	case envdproto.ContextRemove:
		s.removeContext(c)
		s.writeContextReply(stream)
	case envdproto.ContextInterrupt:
		c.mu.Lock()
		if c.busy && c.cur != nil {
			c.cur.k.Interrupt(c.cur.interrupt)
		}
		c.mu.Unlock()
		s.writeContextReply(stream, c.info())
	}
}

// errContextRemoved is returned by operations on a context removed
// meanwhile.
var errContextRemoved = errors.New("context removed")

// createContext validates the request, starts the interpreter and
// registers the context.
func (s *Server) createContext(stream net.Conn, req *envdproto.ContextRequest) {
	if !envdproto.HasContexts(req.Language) {
		s.writeError(stream, envdproto.CodeInvalidArgument,
			fmt.Sprintf("language %q has no contexts (PYTHON, JAVASCRIPT and TYPESCRIPT have)", req.Language))
		return
	}
	if _, err := toolchain.Find(req.Language); err != nil { // not installed: the template offers what the host has
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	if err := checkContextID(req.ID); err != nil {
		s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
		return
	}
	if err := checkEnv(req.Env); err != nil {
		s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
		return
	}
	cwd, err := s.workDir(req.Cwd)
	if err != nil {
		s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
		return
	}
	c := &interpContext{id: req.ID, lang: req.Language, cwd: cwd, env: req.Env, created: time.Now()}
	if s.cfg.RunAs != nil {
		gid, ok := s.groups.get()
		if !ok {
			s.writeError(stream, envdproto.CodeInternal, "too many executions at once")
			return
		}
		c.group = gid
	}
	// Registered (so the ID is taken) with life held: other operations
	// on it wait until the interpreter runs, or find it removed.
	c.life.Lock()
	if !s.ctxs.add(c) {
		c.life.Unlock()
		s.releaseContextGroup(c)
		s.writeError(stream, envdproto.CodeAlreadyExists, fmt.Sprintf("context %q already exists", req.ID))
		return
	}
	it, err := s.startInterp(c)
	if err != nil {
		c.mu.Lock()
		c.removed = true
		c.mu.Unlock()
		s.ctxs.remove(c)
		c.life.Unlock()
		s.releaseContextGroup(c)
		s.cfg.Logger.Error("start context", "context_id", c.id, "language", c.lang, "err", err)
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	c.setCurrent(it)
	c.life.Unlock()
	s.cfg.Logger.Info("context created", "context_id", c.id, "language", c.lang, "pid", it.pid)
	s.writeContextReply(stream, c.info())
}

// restartContext stops c's interpreter and starts a fresh one. A cell
// running meanwhile ends with CONTEXT_DIED.
func (s *Server) restartContext(c *interpContext) error {
	c.life.Lock()
	defer c.life.Unlock()
	if c.removed {
		return errContextRemoved
	}
	if old := c.current(); old != nil {
		s.stopInterp(old)
		c.setCurrent(nil)
	}
	it, err := s.startInterp(c)
	if err != nil {
		return err // the next cell tries again
	}
	c.setCurrent(it)
	return nil
}

// removeContext forgets c and stops its interpreter, and every process
// it started.
func (s *Server) removeContext(c *interpContext) {
	s.ctxs.remove(c)
	c.life.Lock()
	defer c.life.Unlock()
	c.mu.Lock()
	already := c.removed
	c.removed = true
	it := c.cur
	c.cur = nil
	c.mu.Unlock()
	if already {
		return
	}
	if it != nil {
		s.stopInterp(it)
	}
	s.releaseContextGroup(c)
	s.cfg.Logger.Info("context removed", "context_id", c.id)
}

// releaseContextGroup kills what still carries c's gid and frees it.
func (s *Server) releaseContextGroup(c *interpContext) {
	if c.group > 0 {
		killGroup(c.group)
		s.groups.put(c.group)
	}
}

func (s *Server) writeContextReply(stream net.Conn, infos ...envdproto.ContextInfo) {
	if infos == nil {
		infos = []envdproto.ContextInfo{}
	}
	if err := envdproto.WriteJSON(stream, envdproto.FrameContextReply, &envdproto.ContextReply{Contexts: infos}); err != nil {
		s.cfg.Logger.Warn("write context reply", "err", err)
	}
}

// writeContextError answers an operation on c that failed with err.
func (s *Server) writeContextError(stream net.Conn, c *interpContext, err error) {
	if errors.Is(err, errContextRemoved) {
		s.writeError(stream, envdproto.CodeNotFound, fmt.Sprintf("context %q not found", c.id))
		return
	}
	s.cfg.Logger.Error("context operation", "context_id", c.id, "err", err)
	s.writeError(stream, envdproto.CodeInternal, err.Error())
}

// checkContextID accepts "" (envd names the context) or 1 to 64 letters,
// digits, '_', '-' and '.'.
func checkContextID(id string) error {
	if len(id) > maxContextID {
		return fmt.Errorf("context id of %d bytes (at most %d)", len(id), maxContextID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("context id %q: only letters, digits, '_', '-' and '.'", id)
		}
	}
	return nil
}
