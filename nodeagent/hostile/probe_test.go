package hostile

import (
	"strings"
	"testing"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// pyPrelude opens every Python probe: a probe prints "OK name why" for a
// protection that held and "BAD name why" for one that did not, and the
// script prints DONE when it ran to its end.
const pyPrelude = `import ctypes, errno, os, socket, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def E(n):
    return errno.errorcode.get(n, str(n))

def ok(name, why=""):
    print("OK", name, why, flush=True)

def bad(name, why=""):
    print("BAD", name, why, flush=True)

def must_fail(name, fn, errnos=None):
    try:
        fn()
    except OSError as e:
        if errnos is not None and e.errno not in errnos:
            bad(name, "failed with %s, want one of %s" % (E(e.errno), "/".join(E(x) for x in errnos)))
        else:
            ok(name, E(e.errno) if e.errno else str(e))
        return
    bad(name, "succeeded")

def sys_call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *args)
    if r == -1:
        n = ctypes.get_errno()
        raise OSError(n, os.strerror(n))
    return r

`

// py assembles a Python probe: the prelude, then src with each @KEY@
// replaced by its value.
func py(src string, kv ...string) string {
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "@"+kv[i]+"@", kv[i+1])
	}
	return pyPrelude + strings.NewReplacer(pairs...).Replace(src) + "\nprint('DONE', flush=True)\n"
}

// checkProbes fails the test for every BAD line of a probe script, and when
// the script did not run to its end.
func checkProbes(t *testing.T, res agentapi.ExecResult) {
	t.Helper()
	done := false
	var bad []string
	for _, line := range strings.Split(res.Stdout, "\n") {
		switch {
		case line == "DONE":
			done = true
		case strings.HasPrefix(line, "BAD "):
			bad = append(bad, strings.TrimPrefix(line, "BAD "))
		}
	}
	for _, b := range bad {
		t.Errorf("protection missing: %s", b)
	}
	if !done || res.ExitCode != 0 {
		t.Errorf("probe script did not run to its end: %s", describe(res))
	} else if len(bad) > 0 {
		t.Logf("all probes:\n%s", res.Stdout)
	}
}
