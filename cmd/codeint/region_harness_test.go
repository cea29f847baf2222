package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// testBootstrapKey is the admin key every server of a test region takes.
const testBootstrapKey = "ci_test_bootstrap_key_0123456789abcdefghij"

// proc is one codeint process of a test region: a server or an agent. It
// can be killed and started again with the same arguments.
type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	if p.logs == nil {
		p.logs = &lockedBuffer{}
	}
	fmt.Fprintf(p.logs, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	p.cmd = exec.Command(filepath.Join(binDir, "codeint"), p.args...)
	p.cmd.Env = append(os.Environ(), "CODEINT_BOOTSTRAP_KEY="+testBootstrapKey)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan error, 1)
	p.done = done
	cmd := p.cmd
	go func() { done <- cmd.Wait() }()
}

// running reports whether the process is alive.
func (p *proc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// status says whether the process runs or how it ended.
func (p *proc) status() string {
	if p.cmd == nil {
		return "never started"
	}
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Sprintf("exited (%v)", err)
	default:
		return "running"
	}
}

// stop signals the process and waits for it to exit (SIGKILL after 30 s).
func (p *proc) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("%s did not exit within 30s of %v", p.name, sig)
		p.done <- <-p.done
	}
}

// testServer is one server of a test region.
type testServer struct {
	id, raft, rpc, http, dataDir string
	proc                         *proc
}

// testRegion is a region of real processes on loopback: servers, one
// agent, certificates from one CA.
type testRegion struct {
	t       testing.TB // the test that made it: its connections close with it
	rpcOnce sync.Once
	rpcc    *rpcClients

	name    string
	dir     string
	servers []*testServer
	agent   *proc
	client  tlsutil.Files
}

// startRegion starts n servers bootstrapping together and, with agent,
// one node agent, and waits until the region has a leader that every
// server agrees on.
func startRegion(t testing.TB, name string, n int, agent bool, extraServerArgs ...string) *testRegion {
	t.Helper()
	return startRegionOpts(t, regionOpts{name: name, servers: n, agent: agent, serverArgs: extraServerArgs})
}

// regionOpts describe a test region.
type regionOpts struct {
	name       string
	servers    int
	agent      bool
	serverArgs []string // added to every server's flags
	caDir      string   // the CA to sign with (regions of one federation share it); "" makes one
	noWait     bool     // do not wait for a leader (a region expected not to form)
	agentArgs  []string // added to the agent's flags
}

func startRegionOpts(t testing.TB, o regionOpts) *testRegion {
	t.Helper()
	requireRoot(t)
	name, n, agent, extraServerArgs := o.name, o.servers, o.agent, o.serverArgs
	r := &testRegion{t: t, name: name, dir: newDataDir(t)}
	caDir := o.caDir
	if caDir == "" {
		caDir = filepath.Join(r.dir, "tls")
		if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
			t.Fatal(err)
		}
	}
	cert := func(role tlsutil.Role, node string) tlsutil.Files {
		f, err := tlsutil.CreateCert(tlsutil.CertRequest{CADir: caDir, OutDir: filepath.Join(r.dir, "tls"), Role: role, Region: name, Name: node})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	r.client = cert(tlsutil.RoleClient, "operator")
	var rpcs []string
	for i := range n {
		s := &testServer{id: fmt.Sprintf("%s-s%d", name, i+1), raft: freeAddr(t), rpc: freeAddr(t), http: freeAddr(t)}
		s.dataDir = filepath.Join(r.dir, s.id)
		r.servers = append(r.servers, s)
		rpcs = append(rpcs, s.rpc)
	}
	for _, s := range r.servers {
		s.proc = &proc{name: s.id, args: serverArgs(s, name, rpcs, cert(tlsutil.RoleServer, s.id), extraServerArgs)}
		s.proc.start(t)
	}
	r.stopOnCleanup(t)
	if o.noWait {
		return r
	}
	r.waitLeader(t, 60*time.Second)
	if agent {
		f := cert(tlsutil.RoleAgent, name+"-a1")
		r.agent = &proc{name: name + "-a1", args: []string{"agent", "--node-id", name + "-a1", "--region", name,
			"--data-dir", filepath.Join(r.dir, "agent"), "--servers", strings.Join(rpcs, ","), "--rpc-addr", freeAddr(t),
			"--cgroup-parent", cgroupParent() + "-" + name, "--pool-size", "0",
			"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key}}
		r.agent.args = append(r.agent.args, o.agentArgs...)
		r.agent.start(t)
		r.waitNode(t, 60*time.Second)
	}
	return r
}

// serverArgs are the flags of a test server bootstrapping with the servers
// at rpcs, with extra last (a later flag wins).
func serverArgs(s *testServer, region string, rpcs []string, f tlsutil.Files, extra []string) []string {
	args := []string{"server", "--node-id", s.id, "--region", region, "--data-dir", s.dataDir,
		"--raft-addr", s.raft, "--rpc-addr", s.rpc, "--http-addr", s.http,
		"--bootstrap-expect", fmt.Sprint(len(rpcs)), "--join", strings.Join(rpcs, ","),
		"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key, "--heartbeat-ttl", "3s"}
	return append(args, extra...)
}

// stopOnCleanup stops the region's processes when the test ends (the agent
// first) and prints their logs when it failed.
func (r *testRegion) stopOnCleanup(t testing.TB) {
	t.Cleanup(func() {
		if r.agent != nil {
			r.agent.stop(t, syscall.SIGTERM)
		}
		for _, s := range r.servers {
			s.proc.stop(t, syscall.SIGTERM)
		}
		if t.Failed() {
			r.dumpLogs(t)
		}
	})
}

// dumpLogs prints every process's log, for a failed test.
func (r *testRegion) dumpLogs(t testing.TB) {
	t.Helper()
	for _, s := range r.servers {
		t.Logf("=== %s (%s) logs:\n%s", s.id, s.proc.status(), tail(s.proc.logs.String(), 200))
	}
	if r.agent != nil {
		t.Logf("=== %s (%s) logs:\n%s", r.agent.name, r.agent.status(), tail(r.agent.logs.String(), 200))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// client returns an API client of a server.
func (s *testServer) client() *codeint.Client { return codeint.New("http://"+s.http, testBootstrapKey) }

// rpc returns the region's RPC clients with the operator certificate: one
// connection per server, closed with the test that made the region.
func (r *testRegion) rpc() *rpcClients {
	r.rpcOnce.Do(func() { r.rpcc = newRPCClients(r.t, r) })
	return r.rpcc
}

// status asks a server for its status (with its state hash when asked).
func (r *testRegion) status(s *testServer, hash bool) (*serverpb.StatusReply, error) {
	return r.rpc().status(s, hash)
}

// live returns the servers whose processes run.
func (r *testRegion) live() []*testServer {
	var out []*testServer
	for _, s := range r.servers {
		if s.proc.running() {
			out = append(out, s)
		}
	}
	return out
}

// waitLeader waits until every live server names the same live leader and
// serves the API; it returns that leader.
func (r *testRegion) waitLeader(t testing.TB, timeout time.Duration) *testServer {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if s := r.agreedLeader(); s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err := s.client().Cluster(ctx)
			cancel()
			if err == nil {
				return s
			}
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.dumpLogs(t)
	t.Fatalf("region %s: no agreed leader within %v (%s)", r.name, timeout, last)
	return nil
}

// agreedLeader returns the leader every live server names, or nil.
func (r *testRegion) agreedLeader() *testServer { return r.rpc().agreedLeader() }

// waitNode waits until a sandbox can be created in the region (the agent
// has registered) and removes that sandbox again.
func (r *testRegion) waitNode(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sb, err := r.servers[0].client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err == nil {
			_, err = r.servers[0].client().TerminateSandbox(ctx, sb.ID)
			cancel()
			if err != nil {
				t.Fatalf("region %s: terminate the probe sandbox %s: %v", r.name, sb.ID, err)
			}
			return
		}
		cancel()
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	r.dumpLogs(t)
	t.Fatalf("region %s: no node took a sandbox within %v: %v", r.name, timeout, last)
}

// operator runs `codeint operator GROUP VERB [flags] ARGS…` against a
// server with the operator certificate; flags given override it.
func (r *testRegion) operator(t testing.TB, s *testServer, groupVerb string, flags []string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"operator"}, strings.Fields(groupVerb)...)
	full = append(full, "--server", s.rpc, "--ca-file", r.client.CA, "--cert-file", r.client.Cert, "--key-file", r.client.Key)
	full = append(full, flags...)
	full = append(full, args...)
	out, err := exec.Command(filepath.Join(binDir, "codeint"), full...).CombinedOutput()
	return string(out), err
}
