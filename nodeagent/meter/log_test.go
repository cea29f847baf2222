package meter

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

func testRecords(n int) []structs.UsageRecord {
	recs := make([]structs.UsageRecord, n)
	for i := range recs {
		start := t0.Add(time.Duration(i) * 10 * time.Second)
		recs[i] = structs.UsageRecord{NodeID: "node-1", SandboxID: fmt.Sprintf("sb-%d", i%3), TeamID: "t",
			Start: start, End: start.Add(10 * time.Second), VCPUs: 1, MemoryMB: 256, CPUSeconds: float64(i) / 4,
			PeakMemoryBytes: int64(i) << 20}
	}
	return recs
}

func mustAppend(t *testing.T, l *Log, recs ...structs.UsageRecord) []structs.UsageRecord {
	t.Helper()
	out, err := l.Append(recs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fileSeqs decodes the log file as it is on disk.
func fileSeqs(t *testing.T, dir string) []uint64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seqs []uint64
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return seqs
		}
		rec, derr := decodeLine(line)
		if derr != nil {
			t.Fatalf("damaged line in %s: %q", logName, line)
		}
		seqs = append(seqs, rec.Seq)
	}
}

func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	out := mustAppend(t, l, testRecords(3)...)
	out = append(out, mustAppend(t, l, testRecords(2)...)...)
	checkSeqs(t, out, 1)
	if _, err := OpenLog(dir, LogOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenLog of a dir in use: %v", err)
	}
	if err := l.Ack(3); err != nil {
		t.Fatal(err)
	}
	if err := l.Ack(2); err != nil { // behind the mark: a no-op
		t.Fatal(err)
	}
	if err := l.Ack(6); !errors.Is(err, ErrAckBeyondLog) {
		t.Fatalf("Ack beyond the log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(testRecords(1)...); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}

	l = openLog(t, dir)
	if l.LastSeq() != 5 || l.Acked() != 3 {
		t.Fatalf("reopened: last %d acked %d", l.LastSeq(), l.Acked())
	}
	recs := allRecords(t, l)
	checkSeqs(t, recs, 4)
	if len(recs) != 2 || !sameRecord(recs[0], out[3]) || !sameRecord(recs[1], out[4]) {
		t.Fatalf("unacked after reopen: %+v", recs)
	}
	if got := fileSeqs(t, dir); fmt.Sprint(got) != "[4 5]" {
		t.Fatalf("file holds %v: the acknowledged records are not compacted away", got)
	}
	if more := mustAppend(t, l, testRecords(1)...); more[0].Seq != 6 {
		t.Fatalf("next seq %d, want 6", more[0].Seq)
	}
	if part, _ := l.Unacked(2); len(part) != 2 || part[0].Seq != 4 || part[1].Seq != 5 {
		t.Fatalf("Unacked(2) = %+v", part)
	}
	// Everything acknowledged: the file is emptied, the numbering goes on.
	if err := l.Ack(6); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir)
	defer l.Close()
	if recs := allRecords(t, l); len(recs) != 0 || l.LastSeq() != 6 || len(fileSeqs(t, dir)) != 0 {
		t.Fatalf("after acking all: unacked %+v, last %d, file %v", recs, l.LastSeq(), fileSeqs(t, dir))
	}
	if more := mustAppend(t, l, testRecords(1)...); more[0].Seq != 7 {
		t.Fatalf("next seq after a fully compacted log: %d, want 7", more[0].Seq)
	}
}

// A large CompactBytes keeps acknowledged records in the file, but never
// hands them out again.
func TestLogCompactsLazily(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, testRecords(10)...)
	if err := l.Ack(4); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = OpenLog(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := len(fileSeqs(t, dir)); got != 10 {
		t.Fatalf("file has %d records, want all 10 (under CompactBytes)", got)
	}
	recs := allRecords(t, l)
	checkSeqs(t, recs, 5)
	if len(recs) != 6 {
		t.Fatalf("unacked %+v", recs)
	}
}

func TestTornTail(t *testing.T) {
	good, _ := encodeLine(nil, structs.UsageRecord{NodeID: "node-1", Seq: 4, SandboxID: "x"})
	next, _ := encodeLine(nil, structs.UsageRecord{NodeID: "node-1", Seq: 5, SandboxID: "x"})
	badCRC := append([]byte("00000000"), good[8:]...)
	for _, tc := range []struct {
		name       string
		tail       []byte
		cutRecords int
	}{
		{"partial line", good[:len(good)/2], 0},
		{"line without newline", good[:len(good)-1], 0},
		{"bad checksum", badCRC, 0},
		{"zeros", make([]byte, 300), 0},
		// An unsynced batch whose first page did not reach the disk.
		{"damaged then intact", append(append([]byte(nil), badCRC...), next...), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir)
			synced := mustAppend(t, l, testRecords(3)...)
			l.Close()
			f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tc.tail); err != nil {
				t.Fatal(err)
			}
			f.Close()

			l = openLog(t, dir)
			rec := l.Recovery()
			if rec.CutBytes != int64(len(tc.tail)) || rec.CutRecords != tc.cutRecords || l.LastSeq() != 3 {
				t.Fatalf("recovery %+v, last seq %d", rec, l.LastSeq())
			}
			// The fsynced records are intact, and the next one takes the
			// first number no fsynced record has.
			recs := allRecords(t, l)
			if len(recs) != 3 || !sameRecord(recs[2], synced[2]) {
				t.Fatalf("records %+v", recs)
			}
			if out := mustAppend(t, l, testRecords(1)...); out[0].Seq != 4 {
				t.Fatalf("next seq %d, want 4", out[0].Seq)
			}
			l.Close()
			l = openLog(t, dir)
			defer l.Close()
			if rec := l.Recovery(); rec.CutBytes != 0 || len(allRecords(t, l)) != 4 {
				t.Fatalf("second reopen: %+v, %+v", rec, allRecords(t, l))
			}
		})
	}
}

func TestDamagedStateFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, ackName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLog(dir, LogOptions{}); err == nil {
		t.Fatal("OpenLog with a damaged ack file succeeded")
	}
	// A leftover temporary file of an interrupted write is ignored.
	os.WriteFile(filepath.Join(dir, ackName), []byte(`{"seq":0}`), 0o600)
	os.WriteFile(filepath.Join(dir, ackName+tmpSuffix), []byte("{"), 0o600)
	l = openLog(t, dir)
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, ackName+tmpSuffix)); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary file: %v", err)
	}
}
