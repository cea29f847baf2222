package kernel

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// pipes are the interpreter's file descriptors and envd's ends of them.
type pipes struct {
	// child are the interpreter's fds 0 (empty stdin), 1, 2, 3 (requests),
	// 4 (events) and 5 (acks): blocking.
	child [6]*os.File
	// Our read ends, non-blocking, and write ends, blocking.
	stdout, stderr, events int
	requests, acks         int
	// wakeR and wakeW wake loop (both non-blocking).
	wakeR, wakeW int
	ours         []int // every fd of ours, for closeOurs
}

// newPipes makes every pipe, all close-on-exec (the child's ends are
// passed on explicitly). The drivers keep theirs from the cells' child
// processes: Python marks fds 3 to 5 non-inheritable, node marks every
// inherited fd above 2 close-on-exec at startup.
func newPipes() (*pipes, error) {
	p := &pipes{}
	pipe := func(flags int) ([2]int, error) {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|flags); err != nil {
			return fds, fmt.Errorf("kernel: pipe: %w", err)
		}
		return fds, nil
	}
	fail := func(err error) (*pipes, error) {
		p.closeChild()
		p.closeOurs()
		return nil, err
	}
	stdin, err := pipe(0)
	if err != nil {
		return fail(err)
	}
	unix.Close(stdin[1]) // the interpreter reads EOF
	p.child[0] = os.NewFile(uintptr(stdin[0]), "kernel-stdin")
	for i, ours := range []*int{&p.stdout, &p.stderr, nil, &p.events, nil} {
		fds, err := pipe(0)
		if err != nil {
			return fail(err)
		}
		childFd := i + 1
		if ours == nil { // requests (fd 3) and acks (fd 5): we write
			p.child[childFd] = os.NewFile(uintptr(fds[0]), fmt.Sprintf("kernel-fd%d", childFd))
			p.ours = append(p.ours, fds[1])
			if childFd == 3 {
				p.requests = fds[1]
			} else {
				p.acks = fds[1]
			}
			continue
		}
		p.child[childFd] = os.NewFile(uintptr(fds[1]), fmt.Sprintf("kernel-fd%d", childFd))
		p.ours = append(p.ours, fds[0])
		*ours = fds[0]
		if err := unix.SetNonblock(fds[0], true); err != nil {
			return fail(fmt.Errorf("kernel: set non-blocking: %w", err))
		}
	}
	wake, err := pipe(unix.O_NONBLOCK)
	if err != nil {
		return fail(err)
	}
	p.wakeR, p.wakeW = wake[0], wake[1]
	p.ours = append(p.ours, wake[0], wake[1])
	return p, nil
}

// closeChild closes the child's ends (after the start, or on failure).
func (p *pipes) closeChild() {
	for _, f := range p.child {
		if f != nil {
			f.Close()
		}
	}
}

// closeOurs closes our ends, when the start failed.
func (p *pipes) closeOurs() {
	for _, fd := range p.ours {
		unix.Close(fd)
	}
}
