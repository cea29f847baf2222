package runc

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// CommandError is a runtime invocation that failed.
type CommandError struct {
	Runtime Kind
	Args    []string
	Stderr  string
	Err     error
}

// Error implements error.
func (e *CommandError) Error() string {
	return fmt.Sprintf("%s %s: %v: %s", e.Runtime, strings.Join(e.Args, " "), e.Err, e.Stderr)
}

// Unwrap returns the exec error.
func (e *CommandError) Unwrap() error { return e.Err }

// isGone reports whether err says the container does not exist or does not
// run any more.
func isGone(err error) bool {
	var ce *CommandError
	if !errors.As(err, &ce) {
		return false
	}
	s := strings.ToLower(ce.Stderr)
	return strings.Contains(s, "does not exist") || strings.Contains(s, "not running") || strings.Contains(s, "container not found")
}

func closeFiles(files ...*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// pipeConn joins the init's stdout (read) and stdin (write) pipes.
type pipeConn struct {
	r, w *os.File
	once sync.Once
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }

// Close closes both pipes; later calls do nothing.
func (p *pipeConn) Close() error {
	var err error
	p.once.Do(func() {
		err = errors.Join(p.w.Close(), p.r.Close())
	})
	return err
}

// tailWriter keeps the last max bytes of whole lines.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []string
	n   int
}

func (t *tailWriter) line(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, s)
	t.n += len(s) + 1
	for t.n > t.max && len(t.buf) > 1 {
		t.n -= len(t.buf[0]) + 1
		t.buf = t.buf[1:]
	}
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.buf, "\n")
}
