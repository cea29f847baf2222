package main

import (
	"runtime"
	"syscall"
	"time"
)

// envdProcs bounds the threads running Go code in envd: it serves a few
// streams, so more would only cost memory and thread creations.
const envdProcs = 2

// spareThreads is how many OS threads envd creates at start and keeps.
const spareThreads = 16

// prewarmThreads makes the Go runtime create spare threads now, while the
// sandbox has pids to spare. The runtime never gives idle threads back,
// and it aborts the whole process when it cannot create one it needs
// ("failed to create new OS thread"): in a sandbox whose pids cgroup a
// fork bomb has filled, envd must get by with the threads it has. Each of n
// goroutines blocks in a raw read, which holds its thread, so the runtime
// starts others; once all are released their threads stay idle in the
// runtime's pool.
func prewarmThreads(n int) {
	runtime.GOMAXPROCS(envdProcs)
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	done := make(chan struct{}, n)
	for range n {
		go func() {
			var b [1]byte
			_, _ = syscall.Read(fds[0], b[:]) // blocking: holds an M
			done <- struct{}{}
		}()
	}
	// The runtime hands a blocked thread's P to a new thread after ~20 µs
	// (sysmon); give it time for all of them.
	time.Sleep(20 * time.Millisecond)
	wake := make([]byte, n)
	_, _ = syscall.Write(fds[1], wake)
	for range n {
		<-done
	}
}
