package runc

import "io"

// Container is a running sandbox: its runtime started it detached, and no
// runtime process stays behind for it (runc leaves the container's init,
// runsc its sandbox and gofer processes, all re-parented to the agent; see
// SetChildSubreaper).
type Container struct {
	ID      string
	Kind    Kind
	UIDBase uint32 // host uid of the container's root

	pid     int   // the init (runc) or the sandbox process (runsc), host pid
	adopted []int // children of the agent since start: pid, and runsc's gofer
	conn    *pipeConn
	stderr  *tailWriter
	cgroup  *Cgroup
}

// Conn is the container init's stdio: writes go to its stdin, reads come
// from its stdout. Closing it closes the agent's ends of both pipes. It
// ends (EOF) when the init exits.
func (c *Container) Conn() io.ReadWriteCloser { return c.conn }

// Pid is the host pid the runtime wrote to its pid file: the container's
// init (envd) under runc, the sandbox (sentry) process under runsc.
func (c *Container) Pid() int { return c.pid }

// Cgroup is the container's cgroup.
func (c *Container) Cgroup() *Cgroup { return c.cgroup }

// StderrTail returns the last lines the runtime and the init wrote to
// stderr.
func (c *Container) StderrTail() string { return c.stderr.String() }

// RuntimePids returns the processes the runtime left to the agent at start:
// the init (envd) under runc, the sandbox (sentry) and gofer under runsc.
func (c *Container) RuntimePids() []int { return append([]int(nil), c.adopted...) }
