package hostile

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// neighbour is a sandbox next to the attacked one: canary files in /tmp,
// /home/user and /dev/shm, a SysV shared-memory segment, a secret in its
// environment and a daemon answering on an abstract unix socket. No attack
// may see or touch any of it.
type neighbour struct {
	id     string
	token  string // canary content, part of every name above
	secret string // value of NEIGHBOUR_SECRET in its environment
}

const neighbourSetup = `set -e
T=@TOK@
for d in /tmp /home/user /dev/shm; do echo "$T" > "$d/canary-$T"; done
python3 -c 'import ctypes; exit(ctypes.CDLL(None).shmget(@SHMKEY@, 4096, 0o1000 | 0o600) < 0)'
setsid python3 -c '
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0codeint-neighbour-@TOK@")
s.listen(16)
while True:
    c, _ = s.accept()
    try:
        c.sendall(b"@TOK@\n")
    except OSError:
        pass
    c.close()
' neighbour-daemon-@TOK@ </dev/null >/dev/null 2>&1 &
for i in $(seq 100); do
  if python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("\0codeint-neighbour-@TOK@")' 2>/dev/null; then
    echo NEIGHBOUR_READY; exit 0
  fi
  sleep 0.1
done
echo "the neighbour's daemon does not listen"; exit 1
`

const neighbourCheck = `tok = "@TOK@"
for p in ("/tmp/canary-" + tok, "/home/user/canary-" + tok, "/dev/shm/canary-" + tok):
    try:
        got = open(p).read().strip()
    except OSError as e:
        bad("canary " + p, "unreadable: " + E(e.errno))
        continue
    if got != tok:
        bad("canary " + p, "holds %r" % got)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect("\0codeint-neighbour-" + tok)
    got = s.recv(100).strip().decode()
    if got != tok:
        bad("daemon", "answered %r" % got)
except OSError as e:
    bad("daemon", "does not answer: %s" % e)
if libc.shmget(@SHMKEY@, 0, 0o600) < 0:
    bad("shm", "the SysV segment is gone: " + E(ctypes.get_errno()))
if os.environ.get("NEIGHBOUR_SECRET") != "@SECRET@":
    bad("env", "NEIGHBOUR_SECRET is %r" % os.environ.get("NEIGHBOUR_SECRET"))
`

// shmKey is the key of the neighbour's SysV segment, made of its token.
func (nb *neighbour) shmKey() string {
	k, _ := strconv.ParseUint(nb.token[:7], 16, 32)
	return strconv.FormatUint(k, 10)
}

// ensureNeighbour starts the world's neighbour unless it runs.
func (w *world) ensureNeighbour(t *testing.T) {
	t.Helper()
	if w.nb != nil {
		return
	}
	tok := token()
	nb := &neighbour{token: tok, secret: "neighbour-secret-" + token()}
	nb.id = w.start(t, "neighbour", agentapi.StartRequest{Env: map[string]string{"NEIGHBOUR_SECRET": nb.secret}})
	setup := strings.NewReplacer("@TOK@", tok, "@SHMKEY@", nb.shmKey()).Replace(neighbourSetup)
	res := run(t, w.a, nb.id, agentapi.Bash, setup, 15*time.Second)
	if !strings.Contains(res.Stdout, "NEIGHBOUR_READY") {
		w.stop(t, nb.id)
		t.Fatalf("set up the neighbour: %s", describe(res))
	}
	w.nb = nb
}

// checkNeighbour is check (c): the neighbour still answers an execution and
// holds its canaries, daemon, segment and secret. A harmed neighbour is
// replaced for the next case.
func (w *world) checkNeighbour(t *testing.T) {
	t.Helper()
	if w.nb == nil {
		return
	}
	nb := w.nb
	harmed := func(format string, args ...any) {
		t.Errorf("neighbour %s harmed: "+format, append([]any{nb.id}, args...)...)
		w.stop(t, nb.id)
		w.nb = nil
	}
	if err := w.answers(nb.id); err != nil {
		reason, exited := w.exits.reason(nb.id)
		harmed("it no longer answers: %v (ended on its own: %v %s)", err, exited, reason)
		return
	}
	res := run(t, w.a, nb.id, agentapi.Python, py(neighbourCheck, "TOK", nb.token, "SECRET", nb.secret, "SHMKEY", nb.shmKey()), 10*time.Second)
	var bad []string
	for _, line := range strings.Split(res.Stdout, "\n") {
		if strings.HasPrefix(line, "BAD ") {
			bad = append(bad, strings.TrimPrefix(line, "BAD "))
		}
	}
	if len(bad) > 0 || !strings.Contains(res.Stdout, "DONE") {
		harmed("%v (%s)", bad, describe(res))
	}
}
