package server

import (
	"fmt"
	"syscall"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// cpuSeconds converts a CPU-time limit to RLIMIT_CPU, which counts whole
// seconds: it rounds up, so a limit is never shorter than asked.
func cpuSeconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}

// result turns the leader's wait status into the Result, naming the limit
// that ended it when envd can tell: the wall timeout (envd killed it) or
// the CPU-time limit. Memory and process limits are sandbox-wide and named
// by the agent, which reads the sandbox's cgroup.
func result(st reaper.Status, d time.Duration, timedOut bool, req *envdproto.ExecRequest) *envdproto.Result {
	cpu := time.Duration(st.Rusage.Utime.Nano() + st.Rusage.Stime.Nano())
	res := &envdproto.Result{
		DurationNS:      d.Nanoseconds(),
		CPUTimeNS:       cpu.Nanoseconds(),
		PeakMemoryBytes: st.Rusage.Maxrss * 1024, // Linux reports KiB
		TimedOut:        timedOut,
		ExitCode:        exitCode(st),
	}
	if st.Wait.Signaled() {
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameKilled, Value: "killed by signal: " + st.Wait.Signal().String()}
	}
	switch limit := req.CPUTime(); {
	case timedOut:
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameTimeout, Value: fmt.Sprintf("execution exceeded its %s timeout", req.Timeout())}
	case limit > 0 && cpuLimitHit(st, cpu, limit):
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameCPUTime,
			Value: fmt.Sprintf("execution exceeded its %s CPU-time limit (%d s per process)", limit, cpuSeconds(limit))}
	}
	return res
}

// exitCode is the shell's view of a wait status (the reaper reports
// only ended processes): the exit status, or 128+signal.
func exitCode(st reaper.Status) int {
	if st.Wait.Signaled() {
		return 128 + int(st.Wait.Signal())
	}
	return st.Wait.ExitStatus()
}

// cpuLimitHit reports whether RLIMIT_CPU ended the leader: SIGXCPU at the
// soft limit, SIGKILL at the hard one (a program that handled SIGXCPU), or
// a shell's exit status 128+SIGXCPU for a command the limit killed. The
// rusage times are sampled at ticks and may fall a little short of what
// the kernel enforced: 80% of the limit counts as reached.
func cpuLimitHit(st reaper.Status, cpu, limit time.Duration) bool {
	reached := cpu*10 >= time.Duration(cpuSeconds(limit))*time.Second*8
	switch {
	case st.Wait.Signaled() && st.Wait.Signal() == syscall.SIGXCPU:
		return true
	case st.Wait.Signaled() && st.Wait.Signal() == syscall.SIGKILL:
		return reached
	case st.Wait.Exited() && st.Wait.ExitStatus() == 128+int(syscall.SIGXCPU):
		return reached
	}
	return false
}

// failed reports whether the program did not succeed.
func failed(st reaper.Status) bool {
	return st.Wait.Signaled() || st.Wait.Exited() && st.Wait.ExitStatus() != 0
}

// diskFull reports whether a writable directory is (nearly) full, to name a
// failed execution DISK_FULL. It is a best effort: the program may have
// failed for another reason while a directory was full, and it may have
// freed space before exiting. "Full" is less than 1% or 64 KiB free: a
// program writing in large blocks stops with a partial block free.
func (s *Server) diskFull() bool {
	for _, dir := range s.cfg.WritableDirs {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil || st.Blocks == 0 {
			continue
		}
		free := st.Bavail * uint64(st.Bsize)
		total := st.Blocks * uint64(st.Bsize)
		if free < 64<<10 || free*100 < total {
			return true
		}
	}
	return false
}
