package billing

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// Units of Quantity and Usage, exact integers so that sums never round.
const (
	vcpuMicrosecondsPerVCPUSecond = 1_000_000     // 1 vCPU-µs = a thousandth of a vCPU for a millisecond
	mibMillisecondsPerGiBSecond   = 1024 * 1000   // 1 MiB-ms = a MiB for a millisecond
	millisecondsPerSecond         = 1000          //
	maxVCPUsPerRecord             = 1 << 20       // more is an absurd record, not a big one
	maxCPUSecondsPerRecord        = 1_000_000_000 // 31 CPU-years in one record is absurd too
)

// ErrInvalidRecord is wrapped by errors about a usage record that cannot
// be rated: it ends before it starts, has a negative, NaN or absurd
// allocation or measure, or belongs to another team than the records
// rated with it.
var ErrInvalidRecord = errors.New("invalid usage record")

// Quantity is an amount of billable resource in exact integer units:
// vCPU-microseconds (10^-6 vCPU-second: a thousandth of a vCPU for a
// millisecond) and MiB-milliseconds (1/1,024,000 GiB-second).
type Quantity struct {
	VCPUMicroseconds int64
	MiBMilliseconds  int64
}

// VCPUSeconds is the vCPU part in vCPU-seconds.
func (q Quantity) VCPUSeconds() float64 {
	return float64(q.VCPUMicroseconds) / vcpuMicrosecondsPerVCPUSecond
}

// GiBSeconds is the memory part in GiB-seconds.
func (q Quantity) GiBSeconds() float64 {
	return float64(q.MiBMilliseconds) / mibMillisecondsPerGiBSecond
}

// Plus is q + r, or ErrOverflow.
func (q Quantity) Plus(r Quantity) (Quantity, error) {
	v, ok1 := add(q.VCPUMicroseconds, r.VCPUMicroseconds)
	m, ok2 := add(q.MiBMilliseconds, r.MiBMilliseconds)
	if !ok1 || !ok2 {
		return Quantity{}, fmt.Errorf("adding quantities: %w", ErrOverflow)
	}
	return Quantity{VCPUMicroseconds: v, MiBMilliseconds: m}, nil
}

// Usage is what metered records add up to, in the exact units of
// Quantity. It counts what ran; what is billed (the larger of allocated
// and used, the minimum) is in Charge.
type Usage struct {
	Records             int64 // records added
	SandboxMilliseconds int64 // sandbox time
	VCPUMicroseconds    int64 // allocated vCPUs × time
	MiBMilliseconds     int64 // allocated memory × time
	CPUMicroseconds     int64 // CPU time used (measured)
	UsedMiBMilliseconds int64 // peak memory × time, record by record: an estimate of memory used
}

// SandboxSeconds is the sandbox time in seconds.
func (u Usage) SandboxSeconds() float64 {
	return float64(u.SandboxMilliseconds) / millisecondsPerSecond
}

// VCPUSeconds is the allocated vCPU-seconds.
func (u Usage) VCPUSeconds() float64 { return u.Allocated().VCPUSeconds() }

// GiBSeconds is the allocated GiB-seconds.
func (u Usage) GiBSeconds() float64 { return u.Allocated().GiBSeconds() }

// CPUSeconds is the CPU time used, in seconds.
func (u Usage) CPUSeconds() float64 { return u.Used().VCPUSeconds() }

// UsedGiBSeconds is the memory used in GiB-seconds, estimated from each
// record's peak over the record's length.
func (u Usage) UsedGiBSeconds() float64 { return u.Used().GiBSeconds() }

// Allocated is the allocation as a Quantity.
func (u Usage) Allocated() Quantity {
	return Quantity{VCPUMicroseconds: u.VCPUMicroseconds, MiBMilliseconds: u.MiBMilliseconds}
}

// Used is the measured use as a Quantity (CPU time, peak memory × time).
func (u Usage) Used() Quantity {
	return Quantity{VCPUMicroseconds: u.CPUMicroseconds, MiBMilliseconds: u.UsedMiBMilliseconds}
}

// Add returns u plus the record, or an error wrapping ErrInvalidRecord or
// ErrOverflow (u is then unchanged).
func (u Usage) Add(r structs.UsageRecord) (Usage, error) {
	m, err := measure(r)
	if err != nil {
		return u, err
	}
	return u.Plus(m.usage)
}

// Plus is u + v, or ErrOverflow.
func (u Usage) Plus(v Usage) (Usage, error) {
	var out Usage
	ok := true
	for _, f := range []struct {
		dst  *int64
		a, b int64
	}{
		{&out.Records, u.Records, v.Records},
		{&out.SandboxMilliseconds, u.SandboxMilliseconds, v.SandboxMilliseconds},
		{&out.VCPUMicroseconds, u.VCPUMicroseconds, v.VCPUMicroseconds},
		{&out.MiBMilliseconds, u.MiBMilliseconds, v.MiBMilliseconds},
		{&out.CPUMicroseconds, u.CPUMicroseconds, v.CPUMicroseconds},
		{&out.UsedMiBMilliseconds, u.UsedMiBMilliseconds, v.UsedMiBMilliseconds},
	} {
		s, fine := add(f.a, f.b)
		*f.dst, ok = s, ok && fine
	}
	if !ok {
		return u, fmt.Errorf("adding usage: %w", ErrOverflow)
	}
	return out, nil
}

// Sum adds up records.
func Sum(records []structs.UsageRecord) (Usage, error) {
	var u Usage
	for _, r := range records {
		var err error
		if u, err = u.Add(r); err != nil {
			return Usage{}, err
		}
	}
	return u, nil
}

// measured is one record in exact units.
type measured struct {
	millis    int64 // length, rounded half up to the millisecond
	milliVCPU int64 // allocated vCPUs in thousandths, rounded half up
	mib       int64 // allocated memory
	usage     Usage // the record alone
}

// billable is what the record bills before any minimum: its allocation,
// or on an OnMaxOfUsed plan the larger of allocation and use, resource by
// resource.
func (m measured) billable(p Plan) Quantity {
	q := m.usage.Allocated()
	if p.OnMaxOfUsed {
		used := m.usage.Used()
		q.VCPUMicroseconds = max(q.VCPUMicroseconds, used.VCPUMicroseconds)
		q.MiBMilliseconds = max(q.MiBMilliseconds, used.MiBMilliseconds)
	}
	return q
}

// measure turns a record into exact units: its length rounded half up to
// the millisecond, vCPUs to the thousandth, CPU time to the microsecond,
// peak memory to the MiB.
func measure(r structs.UsageRecord) (measured, error) {
	bad := func(format string, args ...any) (measured, error) {
		return measured{}, fmt.Errorf("%w: record %s/%d of sandbox %s: %s",
			ErrInvalidRecord, r.NodeID, r.Seq, r.SandboxID, fmt.Sprintf(format, args...))
	}
	if r.Start.IsZero() || r.End.IsZero() {
		return bad("it has no start or no end")
	}
	d := r.End.Sub(r.Start)
	if d < 0 {
		return bad("it ends (%s) before it starts (%s)", r.End.Format(time.RFC3339Nano), r.Start.Format(time.RFC3339Nano))
	}
	if !r.Start.Add(d).Equal(r.End) {
		return bad("it is longer than %s", time.Duration(math.MaxInt64))
	}
	if math.IsNaN(r.VCPUs) || r.VCPUs < 0 || r.VCPUs > maxVCPUsPerRecord {
		return bad("it allocates %v vCPUs; that must be a number from 0 to %d", r.VCPUs, maxVCPUsPerRecord)
	}
	if r.MemoryMB < 0 {
		return bad("it allocates %d MiB of memory; that cannot be negative", r.MemoryMB)
	}
	if math.IsNaN(r.CPUSeconds) || r.CPUSeconds < 0 || r.CPUSeconds > maxCPUSecondsPerRecord {
		return bad("it used %v CPU-seconds; that must be a number from 0 to %d", r.CPUSeconds, maxCPUSecondsPerRecord)
	}
	if r.PeakMemoryBytes < 0 {
		return bad("its peak memory is %d bytes; that cannot be negative", r.PeakMemoryBytes)
	}
	m := measured{
		millis:    roundHalfUp(int64(d), int64(time.Millisecond)),
		milliVCPU: int64(math.Floor(r.VCPUs*1000 + 0.5)),
		mib:       int64(r.MemoryMB),
	}
	peakMiB := roundHalfUp(r.PeakMemoryBytes, 1<<20)
	cpu := int64(math.Floor(r.CPUSeconds*vcpuMicrosecondsPerVCPUSecond + 0.5))
	vcpu, ok1 := mul(m.milliVCPU, m.millis)
	mem, ok2 := mul(m.mib, m.millis)
	used, ok3 := mul(peakMiB, m.millis)
	if !ok1 || !ok2 || !ok3 {
		return measured{}, fmt.Errorf("record %s/%d of sandbox %s: %w", r.NodeID, r.Seq, r.SandboxID, ErrOverflow)
	}
	m.usage = Usage{
		Records:             1,
		SandboxMilliseconds: m.millis,
		VCPUMicroseconds:    vcpu,
		MiBMilliseconds:     mem,
		CPUMicroseconds:     cpu,
		UsedMiBMilliseconds: used,
	}
	return m, nil
}

// roundHalfUp is n/d rounded half up, for n >= 0 and d > 0, without
// overflow.
func roundHalfUp(n, d int64) int64 {
	q, r := n/d, n%d
	if r >= d-r { // r ≥ d/2, exactly
		q++
	}
	return q
}
