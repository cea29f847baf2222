package agent

import (
	"fmt"
	"sync"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/runc"
)

// uidRanges hands out host uid/gid ranges, one per sandbox: slot i is the
// range [base + i·size, base + (i+1)·size) with size runc.DefaultIDMapSize,
// mapped to the container's ids 0..size-1. Distinct ranges mean no two
// sandboxes share a host uid: a process of one cannot signal, ptrace or
// open the files of another, even were it to reach them.
//
// A slot is free, in use by a sandbox, or quarantined: its sandbox's
// teardown failed, so processes of that uid may still run, and the slot
// stays out of use until Reconcile finds none. Allocation is next-fit, so
// a range freed just now is the last to be reused. Safe for concurrent use.
type uidRanges struct {
	base  uint32
	size  uint32
	mu    sync.Mutex
	slots []slotState
	next  int
}

type slotState struct {
	owner       string // sandbox id; "" when free
	quarantined bool
}

func newUIDRanges(base uint32, count int) (*uidRanges, error) {
	size := uint32(runc.DefaultIDMapSize)
	if count <= 0 || uint64(base)+uint64(count)*uint64(size) > 1<<32-1 {
		return nil, fmt.Errorf("agent: %d uid ranges of %d from %d do not fit in 32 bits", count, size, base)
	}
	if base == 0 {
		return nil, fmt.Errorf("agent: uid base 0 would map host root")
	}
	return &uidRanges{base: base, size: size, slots: make([]slotState, count)}, nil
}

// alloc reserves a free range for owner and returns its first host uid.
// None free is an error wrapping agentapi.ErrNoCapacity.
func (u *uidRanges) alloc(owner string) (uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range u.slots {
		i := u.next
		u.next = (u.next + 1) % len(u.slots)
		if u.slots[i].owner == "" && !u.slots[i].quarantined {
			u.slots[i].owner = owner
			return u.base + uint32(i)*u.size, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d uid ranges are in use", agentapi.ErrNoCapacity, len(u.slots))
}

// slot returns the slot of a range's first uid.
func (u *uidRanges) slot(first uint32) (int, bool) {
	if first < u.base || (first-u.base)%u.size != 0 {
		return 0, false
	}
	i := int((first - u.base) / u.size)
	return i, i < len(u.slots)
}

// slotOfUID returns the slot holding host uid.
func (u *uidRanges) slotOfUID(uid uint32) (int, bool) {
	if uid < u.base {
		return 0, false
	}
	i := int((uid - u.base) / u.size)
	return i, i < len(u.slots)
}

// release frees a range whose sandbox left nothing running.
func (u *uidRanges) release(first uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i, ok := u.slot(first); ok {
		u.slots[i] = slotState{}
	}
}

// quarantine keeps a range out of use until Reconcile sees it empty.
func (u *uidRanges) quarantine(first uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i, ok := u.slot(first); ok {
		u.slots[i] = slotState{quarantined: true}
	}
}

// claim marks the range of first as used by owner (Reconcile: a leftover
// sandbox's range while it is cleaned up). It reports false when first is
// not a range start of this allocator.
func (u *uidRanges) claim(first uint32, owner string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	i, ok := u.slot(first)
	if ok {
		u.slots[i].owner = owner
	}
	return ok
}

// settle frees every quarantined or unowned-but-claimed slot that no live
// process uses, and quarantines the free slots that one does. busy holds
// the slots of the host's live processes; owned reports the sandboxes the
// agent runs.
func (u *uidRanges) settle(busy map[int]bool, owned func(string) bool) (quarantined int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range u.slots {
		s := &u.slots[i]
		if s.owner != "" && owned(s.owner) {
			continue
		}
		if busy[i] {
			*s = slotState{quarantined: true}
			quarantined++
		} else {
			*s = slotState{}
		}
	}
	return quarantined
}

// Stats of the allocator, for tests and metrics.
func (u *uidRanges) counts() (used, quarantined int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.slots {
		switch {
		case s.owner != "":
			used++
		case s.quarantined:
			quarantined++
		}
	}
	return used, quarantined
}

// window is the host uids the allocator may hand out.
func (u *uidRanges) window() (first, last uint32) {
	return u.base, u.base + uint32(len(u.slots))*u.size - 1
}
