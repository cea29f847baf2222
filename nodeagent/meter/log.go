package meter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/codeint/codeint/controlplane/structs"
)

// The files of a log directory.
const (
	logName        = "usage.log"  // the records, one framed line each
	ackName        = "acked.json" // the acknowledged high-water mark
	checkpointName = "open.json"  // the open intervals of the running sandboxes
	lockName       = "LOCK"       // flock'd by the process that has the log open
	tmpSuffix      = ".tmp"       // a file being written, renamed into place when complete
)

// DefaultCompactBytes is LogOptions.CompactBytes by default.
const DefaultCompactBytes = 1 << 20

var (
	// ErrLocked is returned by OpenLog when another Log (in this or
	// another process) has the directory open.
	ErrLocked = errors.New("meter: log directory in use")
	// ErrAckBeyondLog is returned by Ack for a sequence number the log
	// never assigned.
	ErrAckBeyondLog = errors.New("meter: acknowledged sequence beyond the log")
	// ErrClosed is returned once the log is closed.
	ErrClosed = errors.New("meter: log closed")
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// LogOptions tune a Log.
type LogOptions struct {
	// CompactBytes: the file is rewritten without its acknowledged records
	// once they take this many bytes; default DefaultCompactBytes.
	CompactBytes int64
}

// Recovery is what OpenLog repaired after the previous process ended.
type Recovery struct {
	// CutBytes were cut from the end of the file: a write a crash
	// interrupted (a torn last line), never fsynced, never shipped.
	CutBytes int64
	// CutRecords counts the complete, checksummed records among the cut
	// bytes. It is 0 after an ordinary crash; more means that a damaged
	// line was followed by intact ones (see the package doc).
	CutRecords int
	// Closed are the open intervals of the checkpoint, closed as Final
	// records (with their sequence numbers) because their sandboxes died
	// with the previous process.
	Closed []structs.UsageRecord
	// Stale counts checkpointed intervals that the log had already closed
	// after the checkpoint was written; they were dropped.
	Stale int
}

// Log is the agent's durable, append-only log of usage records; see the
// package doc for its files and guarantees. It is safe for concurrent use.
type Log struct {
	dir  string
	opts LogOptions
	lock *os.File

	mu     sync.Mutex
	f      *os.File // the log file, read and written at offsets
	size   int64    // bytes of complete, fsynced lines
	first  uint64   // seq of the file's first line; last+1 when it has none
	offs   []int64  // offs[i]: offset of the line of seq first+i
	last   uint64   // the last seq assigned: the next one is last+1
	acked  uint64   // durable high-water mark of the control plane
	err    error    // sticky: the file's state is unknown, reopen
	closed bool
	// cpBound: records above it must stay in the file because a
	// checkpoint that may be on disk was taken at that seq (see
	// writeCheckpoint); MaxUint64 when no such checkpoint has intervals.
	cpBound uint64
	// cpMu serializes checkpoint writes.
	cpMu sync.Mutex

	recovery Recovery
	// failWrite, when set, fails Append before it writes (tests).
	failWrite func() error
}

// OpenLog opens (creating it if needed) the log in dir, which it owns
// exclusively from then on (an flock on dir/LOCK). It repairs what a crash
// of the previous process left: it cuts a torn last line, closes the
// checkpointed open intervals as Final records (see Recovery), and finds
// the next sequence number.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	if opts.CompactBytes <= 0 {
		opts.CompactBytes = DefaultCompactBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("meter: create log dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("meter: open log lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("meter: lock %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, lock: lock, cpBound: math.MaxUint64}
	if err := l.open(); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	// Leftovers of an interrupted atomic write: the old file is in place.
	tmps, _ := filepath.Glob(filepath.Join(l.dir, "*"+tmpSuffix))
	for _, t := range tmps {
		os.Remove(t)
	}
	var ack struct {
		Seq uint64 `json:"seq"`
	}
	if err := readJSON(filepath.Join(l.dir, ackName), &ack); err != nil {
		return err
	}
	l.acked = ack.Seq
	var cp checkpoint
	if err := readJSON(filepath.Join(l.dir, checkpointName), &cp); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.dir, logName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("meter: open log: %w", err)
	}
	l.f = f
	if err := syncDir(l.dir); err != nil { // the file's creation
		return err
	}

	// Scan the file: every line must be whole, checksummed, and number
	// the record after the previous one. The first that is not starts
	// the torn tail, cut off.
	closedAfterCP := make(map[string]bool) // sandboxes with a record after the checkpoint
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	var fileLast uint64
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Longer than any record: damaged. Read on to the newline.
			rest, err2 := r.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), err2
			if err == nil {
				err = errBadLine
			}
		}
		if err == io.EOF && len(line) == 0 {
			break
		}
		var rec structs.UsageRecord
		if err == nil {
			rec, err = decodeLine(line)
		}
		if err == nil && fileLast != 0 && rec.Seq != fileLast+1 {
			err = fmt.Errorf("%w: seq %d after %d", errBadLine, rec.Seq, fileLast)
		}
		if err == nil && rec.Seq == 0 {
			err = fmt.Errorf("%w: seq 0", errBadLine)
		}
		if err != nil {
			if !errors.Is(err, errBadLine) && err != io.EOF {
				return fmt.Errorf("meter: read log: %w", err)
			}
			if err := l.cutFrom(off, line, r); err != nil {
				return err
			}
			break
		}
		if fileLast == 0 {
			l.first = rec.Seq
		}
		fileLast = rec.Seq
		l.offs = append(l.offs, off)
		off += int64(len(line))
		if rec.Seq > cp.Seq {
			closedAfterCP[rec.SandboxID] = true
		}
	}
	l.size = off

	// The checkpoint's intervals: the ones the log closed after the
	// checkpoint was taken are stale; the others die now, as Final.
	var closing []structs.UsageRecord
	for _, rec := range cp.Open {
		if closedAfterCP[rec.SandboxID] {
			l.recovery.Stale++
			continue
		}
		rec.Final = true
		closing = append(closing, rec)
	}
	l.last = max(fileLast, l.acked)
	if fileLast == 0 {
		l.first = l.last + 1
	}
	if len(cp.Open) > 0 {
		// Shrink the checkpoint to what is still to close, taken at the
		// current end of the log, before the file changes below.
		if err := l.writeCheckpoint(checkpoint{Seq: l.last, Open: closing}); err != nil {
			return err
		}
	}
	if fileLast < l.acked && l.size > 0 {
		// Every line is acknowledged and the acknowledged high-water mark
		// is past them (only after a cut): drop them all.
		if err := l.truncate(0); err != nil {
			return err
		}
		l.offs, l.first = nil, l.last+1
	}
	if len(closing) > 0 {
		out, err := l.appendLocked(closing)
		if err != nil {
			return err
		}
		l.recovery.Closed = out
	}
	if len(cp.Open) > 0 {
		if err := l.writeCheckpoint(checkpoint{Seq: l.last}); err != nil {
			return err
		}
	}
	return l.maybeCompact()
}

// cutFrom cuts the file at off, where the damaged line starts, counting the
// intact records after it for the Recovery.
func (l *Log) cutFrom(off int64, line []byte, r *bufio.Reader) error {
	cut := int64(len(line))
	for {
		next, err := r.ReadBytes('\n')
		cut += int64(len(next))
		if err == nil {
			if _, derr := decodeLine(next); derr == nil {
				l.recovery.CutRecords++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("meter: read log: %w", err)
		}
	}
	l.recovery.CutBytes = cut
	return l.truncate(off)
}

func (l *Log) truncate(size int64) error {
	if err := l.f.Truncate(size); err != nil {
		return fmt.Errorf("meter: cut log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("meter: cut log: %w", err)
	}
	l.size = size
	return nil
}

var errBadLine = errors.New("damaged line")

// A line is "<crc32c of the JSON, 8 hex digits> <JSON record>\n".
func encodeLine(buf []byte, rec structs.UsageRecord) ([]byte, error) {
	js, err := json.Marshal(rec)
	if err != nil {
		return buf, fmt.Errorf("meter: encode record: %w", err)
	}
	buf = fmt.Appendf(buf, "%08x ", crc32.Checksum(js, crcTable))
	buf = append(buf, js...)
	return append(buf, '\n'), nil
}

func decodeLine(line []byte) (structs.UsageRecord, error) {
	var rec structs.UsageRecord
	line, ok := bytes.CutSuffix(line, []byte("\n"))
	if !ok || len(line) < 10 || line[8] != ' ' {
		return rec, errBadLine
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(line[9:], crcTable) {
		return rec, errBadLine
	}
	if err := json.Unmarshal(line[9:], &rec); err != nil {
		return rec, fmt.Errorf("%w: %v", errBadLine, err)
	}
	return rec, nil
}

// Recovery is what OpenLog repaired.
func (l *Log) Recovery() Recovery {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recovery
	r.Closed = append([]structs.UsageRecord(nil), r.Closed...)
	return r
}

// Append gives the records the next sequence numbers, in order, writes
// them to the file and fsyncs it; it returns them numbered. When it
// returns nil they are durable; when it returns an error none of them is
// in the log (their numbers are not used), unless the error says the log
// must be reopened: then the file's state is unknown until OpenLog.
func (l *Log) Append(recs ...structs.UsageRecord) ([]structs.UsageRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(recs)
}

func (l *Log) appendLocked(recs []structs.UsageRecord) ([]structs.UsageRecord, error) {
	if err := l.usable(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]structs.UsageRecord, len(recs))
	offs := make([]int64, len(recs))
	var buf []byte
	for i, rec := range recs {
		rec.Seq = l.last + 1 + uint64(i)
		offs[i] = l.size + int64(len(buf))
		var err error
		if buf, err = encodeLine(buf, rec); err != nil {
			return nil, err
		}
		out[i] = rec
	}
	if l.failWrite != nil {
		if err := l.failWrite(); err != nil {
			return nil, err
		}
	}
	if _, err := l.f.WriteAt(buf, l.size); err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			l.err = fmt.Errorf("meter: write log: %w; undo: %w (reopen the log)", err, terr)
			return nil, l.err
		}
		return nil, fmt.Errorf("meter: write log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the pages:
		// nothing about the file is known any more.
		l.err = fmt.Errorf("meter: fsync log: %w (reopen the log)", err)
		return nil, l.err
	}
	l.size += int64(len(buf))
	l.offs = append(l.offs, offs...)
	l.last += uint64(len(recs))
	return out, nil
}

func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// LastSeq is the sequence number of the last record appended (0 before
// the first ever).
func (l *Log) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Acked is the acknowledged high-water mark: the control plane has every
// record up to it.
func (l *Log) Acked() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// Unacked returns up to max records after the acknowledged high-water
// mark, in sequence order and without a gap.
func (l *Log) Unacked(max int) ([]structs.UsageRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	from := l.acked + 1
	if from < l.first {
		from = l.first
	}
	if max <= 0 || from > l.last {
		return nil, nil
	}
	i := from - l.first
	j := min(i+uint64(max), uint64(len(l.offs)))
	end := l.size
	if j < uint64(len(l.offs)) {
		end = l.offs[j]
	}
	buf := make([]byte, end-l.offs[i])
	if _, err := l.f.ReadAt(buf, l.offs[i]); err != nil {
		return nil, fmt.Errorf("meter: read log: %w", err)
	}
	out := make([]structs.UsageRecord, 0, j-i)
	for len(buf) > 0 {
		n := bytes.IndexByte(buf, '\n') + 1
		rec, err := decodeLine(buf[:n])
		if err != nil || rec.Seq != from+uint64(len(out)) {
			return nil, fmt.Errorf("meter: read log: record %d damaged on disk", from+uint64(len(out)))
		}
		out = append(out, rec)
		buf = buf[n:]
	}
	return out, nil
}

// Ack records, durably, that the control plane has every record up to seq;
// they are compacted away in time. An Ack at or below the current mark is
// a no-op; one beyond the last appended record is ErrAckBeyondLog.
func (l *Log) Ack(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if seq <= l.acked {
		return nil
	}
	if seq > l.last {
		return fmt.Errorf("%w: %d acknowledged, %d appended", ErrAckBeyondLog, seq, l.last)
	}
	data, _ := json.Marshal(struct {
		Seq uint64 `json:"seq"`
	}{seq})
	if err := writeFileAtomic(l.dir, ackName, data); err != nil {
		return err
	}
	l.acked = seq
	return l.maybeCompact()
}

// maybeCompact rewrites the file without its acknowledged records once
// they take CompactBytes, keeping those a checkpoint on disk may need.
func (l *Log) maybeCompact() error {
	if l.err != nil {
		return nil
	}
	bound := min(l.acked, l.cpBound)
	if bound < l.first || len(l.offs) == 0 {
		return nil
	}
	drop := min(bound-l.first+1, uint64(len(l.offs)))
	prefix := l.size
	if drop < uint64(len(l.offs)) {
		prefix = l.offs[drop]
	}
	if prefix < l.opts.CompactBytes {
		return nil
	}
	path := filepath.Join(l.dir, logName)
	tmp, err := os.OpenFile(path+tmpSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("meter: compact log: %w", err)
	}
	if _, err := io.Copy(tmp, io.NewSectionReader(l.f, prefix, l.size-prefix)); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("meter: compact log: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("meter: compact log: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("meter: compact log: %w", err)
	}
	// From here the new file is the log, durable or not: either content
	// is a valid log.
	l.f.Close()
	l.f = tmp
	offs := make([]int64, 0, uint64(len(l.offs))-drop)
	for _, o := range l.offs[drop:] {
		offs = append(offs, o-prefix)
	}
	l.offs, l.first, l.size = offs, l.first+drop, l.size-prefix
	return syncDir(l.dir)
}

// checkpoint is the content of open.json: the open interval of every
// running sandbox as a Final record closed at the checkpoint's time,
// taken when the log's last sequence number was Seq.
type checkpoint struct {
	Seq  uint64                `json:"seq"`
	Open []structs.UsageRecord `json:"open,omitempty"`
}

// writeCheckpoint replaces the checkpoint file atomically and durably.
// cp.Seq must be the log's last seq when cp's intervals were read, so that
// a record appended later for one of them marks it stale on recovery;
// until the new checkpoint is durable, records after the lower of the old
// and new Seq stay in the file.
func (l *Log) writeCheckpoint(cp checkpoint) error {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	bound := uint64(math.MaxUint64)
	if len(cp.Open) > 0 {
		bound = cp.Seq
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.cpBound = min(l.cpBound, bound)
	l.mu.Unlock()
	data, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("meter: encode checkpoint: %w", err)
	}
	if err := writeFileAtomic(l.dir, checkpointName, data); err != nil {
		return err
	}
	l.mu.Lock()
	l.cpBound = bound
	l.mu.Unlock()
	return nil
}

// Close closes the log and releases the directory.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.f.Close()
	l.lock.Close() // releases the flock
	return err
}

// readJSON reads a small state file; a missing one leaves v as it is.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("meter: read %s: %w", filepath.Base(path), err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("meter: %s is damaged: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data: written to a temporary
// file, fsynced, renamed into place, the directory fsynced.
func writeFileAtomic(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path+tmpSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("meter: write %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+tmpSuffix, path)
	}
	if err != nil {
		os.Remove(path + tmpSuffix)
		return fmt.Errorf("meter: write %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("meter: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("meter: sync %s: %w", dir, err)
	}
	return nil
}
