package pool

import (
	"context"
	"time"
)

// idleWait is how long the refill loop sleeps when nothing is time-driven
// (no adaptive pool, no backoff): claims, resizes and finished starts and
// stops wake it anyway.
const idleWait = time.Hour

// loop is the refill loop: one pass per wake-up, until Close.
func (p *Pool) loop() {
	defer p.wg.Done()
	timer := time.NewTimer(p.cfg.Tick)
	defer timer.Stop()
	for {
		timer.Reset(p.pass())
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.quit:
			// Close paused the pool before closing quit, so this pass
			// stops every ready slot (one filed by a pass that ran before
			// the pause included); starts in flight stop their own.
			p.pass()
			return
		}
	}
}

// pass recomputes the targets, stops surplus ready slots, launches the
// starts that fit the concurrency and memory bounds, and returns how long
// the loop may sleep before something time-driven is due.
func (p *Pool) pass() time.Duration {
	p.mu.Lock()
	now := p.cfg.Now()
	p.retargetLocked(now)
	var stops, starts []slotJob
	for _, pl := range p.order {
		for excess := len(pl.ready) + len(pl.starting) - pl.target; excess > 0 && len(pl.ready) > 0; excess-- {
			// Stop the oldest: Claim prefers the newest.
			id := pl.ready[0]
			pl.ready[0] = ""
			pl.ready = pl.ready[1:]
			pl.stopping[id] = struct{}{}
			stops = append(stops, slotJob{pl, id})
		}
	}
	if !p.paused {
		starts = p.planStartsLocked(now)
	}
	wait := p.nextWakeLocked(now)
	ctx := p.genCtx
	p.wg.Add(len(stops) + len(starts))
	p.mu.Unlock()

	for _, j := range stops {
		go func() {
			defer p.wg.Done()
			p.stopSlot(j.pl, j.id)
		}()
	}
	for _, j := range starts {
		go p.start(ctx, j.pl, j.id)
	}
	return wait
}

// retargetLocked sets every pool's desired size and, sharing the memory
// budget fairly between them, its target.
func (p *Pool) retargetLocked(now time.Time) {
	demands := make([]demand, len(p.order))
	for i, pl := range p.order {
		pl.desired = p.desiredLocked(pl, now)
		want := pl.desired
		if p.paused {
			want = 0
		}
		demands[i] = demand{want: want, memMB: pl.key.MemoryMB}
	}
	for i, t := range fairShare(demands, p.cfg.MaxTotalMemoryMB) {
		pl := p.order[i]
		if t != pl.target {
			p.log.Debug("warm pool: new target", "pool", pl.key.String(), "target", t, "desired", pl.desired, "was", pl.target)
		}
		pl.target = t
	}
}

func (p *Pool) desiredLocked(pl *pool, now time.Time) int {
	if !pl.spec.Adaptive {
		return pl.spec.Size
	}
	a := p.cfg.Adaptive
	refill := max(a.RefillTime, pl.startDur)
	n := adaptiveSize(pl.rate.rate(now, a.HalfLife), refill, a.Headroom, pl.spec.Min, pl.spec.Max)
	return pl.adapt.apply(n, now, a.ShrinkDelay)
}

// slotJob is a start or stop the pass launches after unlocking.
type slotJob struct {
	pl *pool
	id string
}

// planStartsLocked reserves the slots to start: repeatedly one for the
// least filled pool (relative to its target) among those below target, out
// of backoff, under the per-pool cap and within the memory budget, until
// the node-wide cap is reached. Least-filled first keeps one busy pool from
// taking every start while another sits empty.
func (p *Pool) planStartsLocked(now time.Time) []slotJob {
	used := 0
	for _, pl := range p.order {
		used += pl.memoryMB()
	}
	var jobs []slotJob
	for p.starting < p.cfg.MaxStarts {
		var best *pool
		bestFill := 0.0
		for _, pl := range p.order {
			supply := len(pl.ready) + len(pl.starting)
			if supply >= pl.target || len(pl.starting) >= p.cfg.MaxStartsPerPool ||
				now.Before(pl.retryAt) || used+pl.key.MemoryMB > p.cfg.MaxTotalMemoryMB {
				continue
			}
			if fill := float64(supply) / float64(pl.target); best == nil || fill < bestFill {
				best, bestFill = pl, fill
			}
		}
		if best == nil {
			break
		}
		id := p.newIDLocked()
		best.starting[id] = struct{}{}
		p.starting++
		used += best.key.MemoryMB
		jobs = append(jobs, slotJob{best, id})
	}
	return jobs
}

// nextWakeLocked is how long the loop may sleep: until the earliest backoff
// of a pool that wants slots, and no longer than Tick while an adaptive
// target may drift with time.
func (p *Pool) nextWakeLocked(now time.Time) time.Duration {
	wait := idleWait
	for _, pl := range p.order {
		if pl.spec.Adaptive && wait > p.cfg.Tick {
			wait = p.cfg.Tick
		}
		if len(pl.ready)+len(pl.starting) < pl.target && pl.retryAt.After(now) {
			wait = min(wait, pl.retryAt.Sub(now))
		}
	}
	return max(wait, time.Millisecond)
}

// start runs one Start and files its slot as ready, or stops it when the
// start failed or the pool was drained meanwhile. ctx is the generation
// context the slot was planned under.
func (p *Pool) start(ctx context.Context, pl *pool, id string) {
	defer p.wg.Done()
	sctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	began := p.cfg.Now()
	err := p.cfg.Starter.Start(sctx, id, pl.key)
	cancel()

	p.mu.Lock()
	now := p.cfg.Now()
	delete(pl.starting, id)
	p.starting--
	// A start that Drain or Close cancelled is not the template's fault:
	// no backoff for it.
	cancelled := ctx.Err() != nil
	keep := err == nil && !cancelled && !p.paused
	switch {
	case err != nil && !cancelled:
		pl.failures++
		d := backoff(pl.failures, p.cfg.BackoffMin, p.cfg.BackoffMax)
		pl.retryAt = now.Add(d)
		pl.lastErr, pl.lastErrAt = err.Error(), now
		p.log.Warn("warm pool: start failed", "pool", pl.key.String(), "slot", id,
			"failures", pl.failures, "retry_in", d, "err", err)
	case err == nil:
		pl.failures = 0
		pl.retryAt = time.Time{}
		pl.startDur = ewma(pl.startDur, now.Sub(began))
	}
	if keep {
		pl.ready = append(pl.ready, id)
	} else {
		pl.stopping[id] = struct{}{}
	}
	p.mu.Unlock()
	p.kick()
	if !keep {
		// Also after a failed Start: whatever it left behind goes.
		p.stopSlot(pl, id)
	}
}

// stopSlot stops a slot that is in pl.stopping and forgets it. A failed
// Stop is logged: the slot keeps its prefix, so the agent's reconcile
// removes it later.
func (p *Pool) stopSlot(pl *pool, id string) {
	p.stopSem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StopTimeout)
	err := p.cfg.Starter.Stop(ctx, id)
	cancel()
	<-p.stopSem
	if err != nil {
		p.log.Warn("warm pool: stop failed", "pool", pl.key.String(), "slot", id, "err", err)
	}
	p.mu.Lock()
	delete(pl.stopping, id)
	p.signalLocked()
	p.mu.Unlock()
	p.kick() // the memory it held may let another pool start
}

// backoff is the wait after n consecutive start errors:
// min(lo × 2^(n-1), hi).
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// ewma folds a start duration into the running estimate (weight 1/4 for
// the newest, so one slow start does not double the pool).
func ewma(prev, d time.Duration) time.Duration {
	if prev == 0 {
		return d
	}
	return prev + (d-prev)/4
}
