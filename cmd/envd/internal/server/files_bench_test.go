package server

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// benchSize is what one benchmark iteration moves.
const benchSize = 64 << 20

// BenchmarkFileWrite uploads 64 MiB per iteration through the in-memory
// yamux session, as the user (uid 65534).
func BenchmarkFileWrite(b *testing.B) {
	e := newFileEnv(b)
	data := randomBytes(benchSize)
	sum := sha256Hex(data)
	b.SetBytes(benchSize)
	for b.Loop() {
		rep := fileCall(b, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "bench.bin"}, data)
		if rep.err != nil || rep.info(b).SHA256 != sum {
			b.Fatalf("write: %+v %+v", rep.err, rep.replies)
		}
	}
}

// BenchmarkFileRead downloads a 64 MiB file per iteration through the
// in-memory yamux session, as the user (uid 65534).
func BenchmarkFileRead(b *testing.B) {
	e := newFileEnv(b)
	data := randomBytes(benchSize)
	sum := sha256Hex(data)
	path := filepath.Join(e.home, "bench.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if n, got := readDiscard(b, e.sess, path); n != benchSize || got != sum {
			b.Fatalf("read %d bytes, sha %s", n, got)
		}
	}
}

// readDiscard reads path as the agent would, keeping only the size and
// the SHA-256 of the last reply, and checking the bytes hash to it.
func readDiscard(b *testing.B, sess *yamux.Session, path string) (int, string) {
	st, err := sess.OpenStream()
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := envdproto.WriteJSON(st, envdproto.FrameFileRequest, &envdproto.FileRequest{Op: envdproto.FileRead, Path: path}); err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	n, last := 0, ""
	for {
		ft, payload, err := envdproto.ReadFrame(st)
		if err != nil {
			break
		}
		switch ft {
		case envdproto.FrameData:
			h.Write(payload)
			n += len(payload)
		case envdproto.FrameFileReply:
			var r envdproto.FileReply
			if err := envdproto.DecodeJSON(ft, payload, &r); err != nil || r.Info == nil {
				b.Fatalf("reply %s: %v", payload, err)
			}
			last = r.Info.SHA256
		default:
			b.Fatalf("unexpected %s frame: %s", ft, payload)
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != last {
		b.Fatalf("the bytes hash to %s, the reply says %s", got, last)
	}
	return n, last
}
