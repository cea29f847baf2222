package agent

import (
	"errors"
	"testing"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

func TestUIDRanges(t *testing.T) {
	u, err := newUIDRanges(100000, 3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for _, owner := range []string{"a", "b", "c"} {
		base, err := u.alloc(owner)
		if err != nil || seen[base] || (base-100000)%65536 != 0 {
			t.Fatalf("alloc(%s) = %d, %v", owner, base, err)
		}
		seen[base] = true
	}
	if _, err := u.alloc("d"); !errors.Is(err, agentapi.ErrNoCapacity) {
		t.Fatalf("alloc with none free: %v", err)
	}
	u.release(100000)
	u.quarantine(100000 + 65536)
	if base, err := u.alloc("d"); err != nil || base != 100000 {
		t.Fatalf("alloc after release = %d, %v (the quarantined range must stay out)", base, err)
	}
	if used, q := u.counts(); used != 2 || q != 1 {
		t.Fatalf("counts = %d used, %d quarantined", used, q)
	}
	// settle: "d" is owned, "c" is not (a leftover), the quarantined
	// range is busy.
	busy := map[int]bool{1: true}
	if n := u.settle(busy, func(id string) bool { return id == "d" }); n != 1 {
		t.Fatalf("settle quarantined %d", n)
	}
	if used, q := u.counts(); used != 1 || q != 1 {
		t.Fatalf("after settle: %d used, %d quarantined", used, q)
	}
	if !u.claim(100000+2*65536, "leftover") || u.claim(100001, "x") {
		t.Fatal("claim accepts only range starts")
	}
	if i, ok := u.slotOfUID(100000 + 65536 + 1000); !ok || i != 1 {
		t.Fatalf("slotOfUID = %d, %v", i, ok)
	}
	if _, err := newUIDRanges(0, 1); err == nil {
		t.Fatal("a range at host uid 0 must be refused")
	}
	if _, err := newUIDRanges(1<<31, 1<<16); err == nil {
		t.Fatal("ranges beyond 32 bits must be refused")
	}
}

// TestLimitNames: envd's names of the limits it sees are the API's.
func TestLimitNames(t *testing.T) {
	for envd, api := range map[string]string{
		envdproto.ErrNameTimeout: agentapi.LimitTimeout, envdproto.ErrNameCPUTime: agentapi.LimitCPUTime,
		envdproto.ErrNameDiskFull: agentapi.LimitDisk, envdproto.ErrNameOOM: agentapi.LimitOOM,
	} {
		if envd != api {
			t.Errorf("envd names %q what the API calls %q", envd, api)
		}
	}
}
