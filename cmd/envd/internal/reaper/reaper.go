package reaper

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Status is how a child ended.
type Status struct {
	Wait   syscall.WaitStatus
	Rusage syscall.Rusage // of the child and the descendants it waited for
}

// Reaper reaps children on SIGCHLD.
type Reaper struct {
	// mu is held while reaping and while starting a child, so a child that
	// exits at once is not reaped before its pid is registered.
	mu      sync.Mutex
	waiting map[int]chan Status
	sigs    chan os.Signal
	stop    chan struct{}
	done    chan struct{}
}

// New starts reaping and returns the reaper. Call Close to stop.
func New() *Reaper {
	r := &Reaper{
		waiting: make(map[int]chan Status),
		sigs:    make(chan os.Signal, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
	return r
}

// Start calls start, which must fork a child and return its pid, and
// registers the pid. The returned channel receives the child's status once.
func (r *Reaper) Start(start func() (int, error)) (int, <-chan Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan Status, 1)
	r.waiting[pid] = ch
	// A SIGCHLD may have been consumed before registration; reap again.
	select {
	case r.sigs <- syscall.SIGCHLD:
	default:
	}
	return pid, ch, nil
}

// Close stops reaping. Registered children that have not exited never
// deliver a status.
func (r *Reaper) Close() {
	signal.Stop(r.sigs)
	close(r.stop)
	<-r.done
}

func (r *Reaper) loop() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.sigs:
			r.reapAll()
		}
	}
}

// reapAll reaps until no exited child is left. Signals coalesce, so one
// SIGCHLD may stand for many exits.
func (r *Reaper) reapAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var st Status
		pid, err := syscall.Wait4(-1, &st.Wait, syscall.WNOHANG, &st.Rusage)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return // ECHILD: no children; 0: none exited yet
		}
		if ch, ok := r.waiting[pid]; ok {
			delete(r.waiting, pid)
			ch <- st
		}
	}
}
