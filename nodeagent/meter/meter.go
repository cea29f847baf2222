package meter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// Defaults of Config.
const (
	DefaultSampleEvery     = time.Second
	DefaultInterval        = 10 * time.Second
	DefaultCheckpointEvery = time.Second
)

var (
	// ErrUnknownSandbox is returned by Stop for a sandbox not metered.
	ErrUnknownSandbox = errors.New("meter: sandbox not metered")
	// ErrSandboxExists is returned by Start for a sandbox metered already.
	ErrSandboxExists = errors.New("meter: sandbox metered already")
)

// Config configures a Meter.
type Config struct {
	NodeID  string      // the records' NodeID
	Log     *Log        // where closed records go; the caller opens and closes it
	Sampler Sampler     // reads the sandboxes' use
	Clock   Clock       // default SystemClock()
	OnError func(error) // told of failed samples (once per sandbox until one succeeds), appends and checkpoints; may be nil

	// SampleEvery is how often every sandbox is sampled; default
	// DefaultSampleEvery.
	SampleEvery time.Duration
	// Interval is how long a record covers at most (give or take half a
	// sample period); default DefaultInterval.
	Interval time.Duration
	// CheckpointEvery is how often the open intervals are checkpointed:
	// the most of each running sandbox's time a crash of the agent can
	// leave unmetered. Default DefaultCheckpointEvery. Checkpoints are
	// written on samples: on the first one at least CheckpointEvery (less
	// half a sample period) after the previous checkpoint.
	CheckpointEvery time.Duration
	// LazyStart leaves a new sandbox to the next periodic checkpoint
	// instead of writing one (an fsync) in Start: a crash of the agent
	// within CheckpointEvery of a start then leaves that much of the
	// sandbox unmetered, as it does for any running sandbox. Agents whose
	// starts must stay fast (warm claims beside a Raft log on the same
	// disk) set it.
	LazyStart bool
	// OnFinal, when set, is called after Stop appended a sandbox's Final
	// record (a shipper's Kick, so that it reaches the ledger at once).
	OnFinal func()
}

// SandboxInfo is what a record says of its sandbox beyond the measures.
type SandboxInfo struct {
	ID       string
	TeamID   string
	Template string
	VCPUs    float64 // allocated
	MemoryMB int     // allocated
	// Start is when the sandbox started running: the start of its first
	// record. Zero means now.
	Start time.Time
}

// Meter meters the running sandboxes of one node into records of its Log.
// It is safe for concurrent use.
type Meter struct {
	cfg Config

	tickMu sync.Mutex // one round of sampling and closing at a time
	// sampMu is held while a sample is read and applied, so that the
	// samples of a sandbox are applied in the order they were read.
	sampMu sync.Mutex
	cpMu   sync.Mutex // one checkpoint write at a time

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	gen       uint64    // counts Starts
	cpGen     uint64    // gen when the last durable checkpoint was read
	lastCP    time.Time // when it was read
	cpEmpty   bool      // it had no open interval
}

// sandbox is a metered sandbox and its open interval.
type sandbox struct {
	info  SandboxInfo
	start time.Time     // of the open interval; keeps the monotonic reading
	cpu   time.Duration // CPU time in the open interval
	peak  int64         // peak memory in the open interval

	lastCPU  time.Duration // cumulative, at the last sample
	lastMem  int64
	lastPeak int64 // the kernel's peak at the last sample
	failing  bool  // the last sample failed (and was reported)

	stopped bool      // Stop was called; its Final record is still to append
	end     time.Time // the end of that record
}

// New returns a Meter; Run drives its sampling.
func New(cfg Config) (*Meter, error) {
	if cfg.NodeID == "" || cfg.Log == nil || cfg.Sampler == nil {
		return nil, errors.New("meter: NodeID, Log and Sampler are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = DefaultSampleEvery
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	return &Meter{cfg: cfg, sandboxes: make(map[string]*sandbox)}, nil
}

// Start begins metering a sandbox that started running: it reads the
// sandbox's counters as the baseline of its first interval (a failed read
// makes the baseline zero: all CPU time the first good sample finds is
// counted) and checkpoints the new interval before it returns, so that
// the sandbox is known to a restarted agent even if it crashes now. A
// failed checkpoint is reported to OnError, not returned: the sandbox is
// metered, and the next checkpoint will cover it.
func (m *Meter) Start(info SandboxInfo) error {
	if info.ID == "" {
		return errors.New("meter: sandbox id required")
	}
	if info.Start.IsZero() {
		info.Start = m.cfg.Clock.Now()
	}
	sb := &sandbox{info: info, start: info.Start}
	m.sampMu.Lock()
	m.mu.Lock()
	if m.sandboxes[info.ID] != nil {
		m.mu.Unlock()
		m.sampMu.Unlock()
		return fmt.Errorf("%w: %s", ErrSandboxExists, info.ID)
	}
	m.mu.Unlock()
	s, err := m.cfg.Sampler.Sample(info.ID)
	m.mu.Lock()
	if err == nil {
		sb.lastCPU, sb.lastMem, sb.lastPeak, sb.peak = s.CPU, s.MemoryBytes, s.PeakMemoryBytes, s.MemoryBytes
	} else {
		sb.failing = true
	}
	m.sandboxes[info.ID] = sb
	m.gen++
	gen := m.gen
	m.mu.Unlock()
	m.sampMu.Unlock()
	if err != nil {
		m.report(fmt.Errorf("meter: baseline of sandbox %s: %w", info.ID, err))
	}
	if m.cfg.LazyStart {
		return nil
	}
	if err := m.checkpoint(gen); err != nil {
		m.report(err)
	}
	return nil
}

// Stop ends the metering of a sandbox at time at (zero: now): it samples
// it a last time and appends its open interval as a Final record, which it
// returns. If the append fails the sandbox is no longer sampled but its
// Final record is retried every sample until it is in the log (and is in
// every checkpoint meanwhile); Stop returns the error.
func (m *Meter) Stop(id string, at time.Time) (structs.UsageRecord, error) {
	if at.IsZero() {
		at = m.cfg.Clock.Now()
	}
	m.sampMu.Lock()
	defer m.sampMu.Unlock()
	m.mu.Lock()
	sb := m.sandboxes[id]
	if sb == nil || sb.stopped {
		m.mu.Unlock()
		return structs.UsageRecord{}, fmt.Errorf("%w: %s", ErrUnknownSandbox, id)
	}
	m.mu.Unlock()
	s, serr := m.cfg.Sampler.Sample(id)
	m.mu.Lock()
	report := m.apply(sb, s, serr)
	sb.stopped, sb.end = true, at
	rec, _ := m.record(sb, at, true)
	out, err := m.cfg.Log.Append(rec)
	if err == nil {
		delete(m.sandboxes, id)
		rec = out[0]
	}
	m.mu.Unlock()
	m.report(report)
	if err != nil {
		return rec, fmt.Errorf("meter: final record of sandbox %s (retried every sample): %w", id, err)
	}
	if m.cfg.OnFinal != nil {
		m.cfg.OnFinal()
	}
	return rec, nil
}

// Running is the number of sandboxes metered, those whose Final record
// is still to append included.
func (m *Meter) Running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sandboxes)
}

// Run samples every SampleEvery until ctx ends; then it samples once more,
// retries the pending Final records and writes a last checkpoint, so that
// a restarted agent closes the intervals still open at that point. It
// returns nil.
func (m *Meter) Run(ctx context.Context) error {
	ticks, stop := m.cfg.Clock.NewTicker(m.cfg.SampleEvery)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			m.tickMu.Lock()
			defer m.tickMu.Unlock()
			m.sampleAll()
			m.closeDue(m.cfg.Clock.Now(), true)
			if err := m.checkpoint(0); err != nil {
				m.report(err)
			}
			return nil
		case <-ticks:
			m.tick()
		}
	}
}

// tick is one round: sample every sandbox, close the intervals that are
// due, checkpoint if it is time.
func (m *Meter) tick() {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	m.sampleAll()
	now := m.cfg.Clock.Now()
	m.closeDue(now, false)
	m.mu.Lock()
	due := now.Sub(m.lastCP) >= m.cfg.CheckpointEvery-m.cfg.SampleEvery/2
	m.mu.Unlock()
	if due {
		if err := m.checkpoint(0); err != nil {
			m.report(err)
		}
	}
}

// sampleAll samples every running sandbox.
func (m *Meter) sampleAll() {
	m.mu.Lock()
	list := make([]*sandbox, 0, len(m.sandboxes))
	for _, sb := range m.sandboxes {
		if !sb.stopped {
			list = append(list, sb)
		}
	}
	m.mu.Unlock()
	for _, sb := range list {
		m.sampMu.Lock()
		m.mu.Lock()
		live := m.sandboxes[sb.info.ID] == sb && !sb.stopped
		m.mu.Unlock()
		if live {
			s, err := m.cfg.Sampler.Sample(sb.info.ID)
			m.mu.Lock()
			report := m.apply(sb, s, err)
			m.mu.Unlock()
			m.report(report)
		}
		m.sampMu.Unlock()
	}
}

// apply adds a sample to the open interval; it returns the error to
// report, if any. m.mu and m.sampMu are held.
func (m *Meter) apply(sb *sandbox, s Sample, err error) error {
	if err != nil {
		if sb.failing {
			return nil
		}
		sb.failing = true
		return fmt.Errorf("meter: sample sandbox %s: %w", sb.info.ID, err)
	}
	sb.failing = false
	if s.CPU >= sb.lastCPU {
		sb.cpu += s.CPU - sb.lastCPU
	} else { // the counter was reset: count it from zero
		sb.cpu += s.CPU
	}
	sb.lastCPU, sb.lastMem = s.CPU, s.MemoryBytes
	sb.peak = max(sb.peak, s.MemoryBytes)
	// The kernel's peak is the sandbox's whole life's; a change means a
	// new high (or a reset and a high since) after the previous sample.
	if s.PeakMemoryBytes > 0 && s.PeakMemoryBytes != sb.lastPeak {
		sb.peak = max(sb.peak, s.PeakMemoryBytes)
		sb.lastPeak = s.PeakMemoryBytes
	}
	return nil
}

// record is the open interval of sb closed at end, and end as the
// interval's start plus the time elapsed (monotonic when both readings
// have it, so that a step of the wall clock neither stretches nor
// shrinks a record). m.mu is held.
func (m *Meter) record(sb *sandbox, end time.Time, final bool) (structs.UsageRecord, time.Time) {
	end = sb.start.Add(max(end.Sub(sb.start), 0))
	return structs.UsageRecord{
		NodeID:          m.cfg.NodeID,
		SandboxID:       sb.info.ID,
		TeamID:          sb.info.TeamID,
		Template:        sb.info.Template,
		Start:           sb.start.Round(0).UTC(),
		End:             end.Round(0).UTC(),
		VCPUs:           sb.info.VCPUs,
		MemoryMB:        sb.info.MemoryMB,
		CPUSeconds:      sb.cpu.Seconds(),
		PeakMemoryBytes: sb.peak,
		Final:           final,
	}, end
}

// closeDue closes, in one append, the intervals that are due at now and
// the Final records still to append (only those if onlyStopped). An
// interval is due once it is Interval long, give or take half a sample.
func (m *Meter) closeDue(now time.Time, onlyStopped bool) {
	m.mu.Lock()
	var due []*sandbox
	for _, sb := range m.sandboxes {
		if sb.stopped || !onlyStopped && now.Sub(sb.start) >= m.cfg.Interval-m.cfg.SampleEvery/2 {
			due = append(due, sb)
		}
	}
	if len(due) == 0 {
		m.mu.Unlock()
		return
	}
	slices.SortFunc(due, func(a, b *sandbox) int { return cmp.Compare(a.info.ID, b.info.ID) })
	recs := make([]structs.UsageRecord, len(due))
	ends := make([]time.Time, len(due))
	for i, sb := range due {
		end := now
		if sb.stopped {
			end = sb.end
		}
		recs[i], ends[i] = m.record(sb, end, sb.stopped)
	}
	_, err := m.cfg.Log.Append(recs...)
	if err == nil {
		for i, sb := range due {
			if sb.stopped {
				delete(m.sandboxes, sb.info.ID)
				continue
			}
			sb.start, sb.cpu, sb.peak = ends[i], 0, sb.lastMem
		}
	}
	m.mu.Unlock()
	if err != nil {
		m.report(fmt.Errorf("meter: close %d intervals (kept open, retried next sample): %w", len(due), err))
	}
}

// checkpoint writes the open intervals, closed now, to the log's
// checkpoint; with need > 0, only if no checkpoint has been written since
// the Start that made generation need.
func (m *Meter) checkpoint(need uint64) error {
	m.cpMu.Lock()
	defer m.cpMu.Unlock()
	m.mu.Lock()
	if need > 0 && m.cpGen >= need {
		m.mu.Unlock()
		return nil
	}
	now := m.cfg.Clock.Now()
	gen := m.gen
	// Read under m.mu, which every append of the meter holds: cp.Seq and
	// the intervals are of one moment.
	cp := checkpoint{Seq: m.cfg.Log.LastSeq()}
	for _, sb := range m.sandboxes {
		end := now
		if sb.stopped {
			end = sb.end
		}
		rec, _ := m.record(sb, end, true)
		cp.Open = append(cp.Open, rec)
	}
	empty := len(cp.Open) == 0
	if empty && m.cpEmpty {
		m.cpGen, m.lastCP = gen, now
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	slices.SortFunc(cp.Open, func(a, b structs.UsageRecord) int { return cmp.Compare(a.SandboxID, b.SandboxID) })
	if err := m.cfg.Log.writeCheckpoint(cp); err != nil {
		return err
	}
	m.mu.Lock()
	m.cpGen, m.lastCP, m.cpEmpty = gen, now, empty
	m.mu.Unlock()
	return nil
}

func (m *Meter) report(err error) {
	if err != nil && m.cfg.OnError != nil {
		m.cfg.OnError(err)
	}
}
