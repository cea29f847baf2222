package main

import (
	"io"
	"strings"
	"testing"
)

// TestSandboxCPUWeightCheckedWithTheFlags: a CPU weight out of 1..10000
// is refused while the flags are read, by `codeint dev` and `codeint
// agent` alike, before anything is opened or started.
func TestSandboxCPUWeightCheckedWithTheFlags(t *testing.T) {
	for _, w := range []string{"0", "10001"} {
		dir := t.TempDir()
		if _, err := parseDevFlags([]string{"--data-dir", dir, "--sandbox-cpu-weight", w}, io.Discard); err == nil || !strings.Contains(err.Error(), "--sandbox-cpu-weight") {
			t.Errorf("codeint dev with weight %s: %v", w, err)
		}
		if _, err := parseAgentFlags([]string{"--data-dir", dir, "--node-id", "n1", "--region", "r", "--servers", "127.0.0.1:1", "--sandbox-cpu-weight", w}, io.Discard); err == nil || !strings.Contains(err.Error(), "--sandbox-cpu-weight") {
			t.Errorf("codeint agent with weight %s: %v", w, err)
		}
	}
	if _, err := parseDevFlags([]string{"--data-dir", t.TempDir(), "--sandbox-cpu-weight", "100"}, io.Discard); err != nil {
		t.Errorf("codeint dev with weight 100: %v", err)
	}
}
