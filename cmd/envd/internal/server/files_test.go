package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// randomBytes returns n pseudo-random bytes.
func randomBytes(n int) []byte {
	data := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(data)
	return data
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ownedBy fails t unless path belongs to uid.
func ownedBy(t *testing.T, path string, uid uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Sys().(*syscall.Stat_t).Uid; got != uid {
		t.Errorf("%s belongs to uid %d, want %d", path, got, uid)
	}
}

func TestFileWriteReadRoundTrip(t *testing.T) {
	e := newFileEnv(t)
	data := randomBytes(50 << 20)
	sum := sha256Hex(data)

	w := fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "big.bin"}, data)
	w.ok(t, "write")
	info := w.info(t)
	want := filepath.Join(e.home, "big.bin")
	if info.SHA256 != sum || info.Path != want || info.Name != "big.bin" || info.Type != envdproto.FileTypeFile ||
		info.Size != int64(len(data)) || info.Mode != 0o644 {
		t.Fatalf("write reply %+v, want sha %s path %s", info, sum, want)
	}
	onDisk, err := os.ReadFile(want)
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("the file on disk differs (%v)", err)
	}
	ownedBy(t, want, nobody)
	if names := dirNames(t, e.home); !slices.Equal(names, []string{"big.bin"}) {
		t.Fatalf("home holds %q, want only big.bin", names)
	}

	r := fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileRead, Path: want}, nil)
	r.ok(t, "read")
	if !bytes.Equal(r.data, data) {
		t.Fatalf("read %d bytes, sha %s; want %d, %s", len(r.data), sha256Hex(r.data), len(data), sum)
	}
	if len(r.replies) != 2 || r.replies[0].Info == nil || r.replies[0].Info.SHA256 != "" ||
		r.replies[0].Info.Size != int64(len(data)) || r.replies[1].Info == nil || r.replies[1].Info.SHA256 != sum {
		t.Fatalf("read replies %+v", r.replies)
	}
	if r.maxData > envdproto.MaxDataChunk || r.dataFrames < len(data)/envdproto.MaxDataChunk+1 {
		t.Fatalf("%d Data frames, the largest %d bytes", r.dataFrames, r.maxData)
	}
	n := len(r.frames)
	if r.frames[0] != envdproto.FrameFileReply || r.frames[n-1] != envdproto.FrameFileReply || r.frames[n-2] != envdproto.FrameData {
		t.Fatalf("frame order: first %s, last two %s %s", r.frames[0], r.frames[n-2], r.frames[n-1])
	}
}

func TestFileWriteText(t *testing.T) {
	e := newFileEnv(t)
	text := "naïve café — 日本語 🎉\nzweite Zeile\n"
	w := fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "sub/dir/héllo 世界.txt", Mode: 0o600}, []byte(text))
	w.ok(t, "write")
	want := filepath.Join(e.home, "sub/dir/héllo 世界.txt")
	if info := w.info(t); info.Path != want || info.Name != "héllo 世界.txt" || info.Mode != 0o600 || info.SHA256 != sha256Hex([]byte(text)) {
		t.Fatalf("write reply %+v", info)
	}
	for _, d := range []string{"sub", "sub/dir"} {
		fi, err := os.Stat(filepath.Join(e.home, d))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Fatalf("parent %s: %v %v", d, fi, err)
		}
		ownedBy(t, filepath.Join(e.home, d), nobody)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", want, fi, err)
	}
	r := fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileRead, Path: "sub/dir/héllo 世界.txt"}, nil)
	r.ok(t, "read")
	if string(r.data) != text {
		t.Fatalf("read %q, want %q", r.data, text)
	}

	// A second write replaces the file; an empty one is fine.
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: want}, nil).ok(t, "empty write")
	if data, err := os.ReadFile(want); err != nil || len(data) != 0 {
		t.Fatalf("after an empty write: %q %v", data, err)
	}
	if names := dirNames(t, filepath.Join(e.home, "sub/dir")); len(names) != 1 {
		t.Fatalf("left behind: %q", names)
	}
}

func TestFileOps(t *testing.T) {
	e := newFileEnv(t)
	call := func(req *envdproto.FileRequest) fileReply { t.Helper(); return fileCall(t, e.sess, req, nil) }
	home := func(p string) string { return filepath.Join(e.home, p) }

	info := call(&envdproto.FileRequest{Op: envdproto.FileMkdir, Path: "a/b/c", Mode: 0o700}).info(t)
	if info.Type != envdproto.FileTypeDir || info.Path != home("a/b/c") || info.Mode != 0o700 {
		t.Fatalf("mkdir: %+v", info)
	}
	ownedBy(t, home("a/b"), nobody)
	call(&envdproto.FileRequest{Op: envdproto.FileMkdir, Path: home("a/b/c")}).ok(t, "mkdir of an existing dir")
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "a/f.txt"}, []byte("hello")).ok(t, "write")
	call(&envdproto.FileRequest{Op: envdproto.FileMkdir, Path: "a/f.txt"}).wantErr(t, "mkdir over a file", envdproto.CodeAlreadyExists, home("a/f.txt"))
	if err := os.Symlink("f.txt", home("a/link")); err != nil {
		t.Fatal(err)
	}

	info = call(&envdproto.FileRequest{Op: envdproto.FileStat, Path: "a/f.txt", Hash: true}).info(t)
	if info.Type != envdproto.FileTypeFile || info.Size != 5 || info.SHA256 != sha256Hex([]byte("hello")) || info.ModTimeNS == 0 {
		t.Fatalf("stat: %+v", info)
	}
	info = call(&envdproto.FileRequest{Op: envdproto.FileStat, Path: "a/link", Hash: true}).info(t)
	if info.Type != envdproto.FileTypeSymlink || info.LinkTarget != "f.txt" || info.SHA256 != "" || info.Path != home("a/link") {
		t.Fatalf("stat of a symlink: %+v", info)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileStat, Path: "a/none"}).wantErr(t, "stat of a missing file", envdproto.CodeNotFound, home("a/none"))

	for p, want := range map[string]bool{"a/f.txt": true, "a/link": true, "a": true, "a/none": false, "a/f.txt/x": false, "none/x/y": false} {
		rep := call(&envdproto.FileRequest{Op: envdproto.FileExists, Path: p})
		rep.ok(t, "exists "+p)
		if len(rep.replies) != 1 || rep.replies[0].Exists != want {
			t.Errorf("exists %s: %+v, want %v", p, rep.replies, want)
		}
	}

	paths := func(rep fileReply) []string {
		t.Helper()
		rep.ok(t, "list")
		var ps []string
		for _, en := range rep.replies[0].Entries {
			ps = append(ps, en.Path)
		}
		return ps
	}
	if got, want := paths(call(&envdproto.FileRequest{Op: envdproto.FileList, Path: "a"})),
		[]string{home("a/b"), home("a/f.txt"), home("a/link")}; !slices.Equal(got, want) {
		t.Fatalf("list depth 1: %q, want %q", got, want)
	}
	rep := call(&envdproto.FileRequest{Op: envdproto.FileList, Path: home("a"), Depth: 2, Hash: true})
	if got, want := paths(rep), []string{home("a/b"), home("a/b/c"), home("a/f.txt"), home("a/link")}; !slices.Equal(got, want) {
		t.Fatalf("list depth 2: %q, want %q", got, want)
	}
	for _, en := range rep.replies[0].Entries {
		if (en.Type == envdproto.FileTypeFile) != (en.SHA256 != "") || (en.Name == "link" && en.LinkTarget != "f.txt") {
			t.Errorf("list entry %+v", en)
		}
	}
	call(&envdproto.FileRequest{Op: envdproto.FileList, Path: "a/f.txt"}).wantErr(t, "list of a file", envdproto.CodeFailedPrecondition, home("a/f.txt"))

	info = call(&envdproto.FileRequest{Op: envdproto.FileRename, Path: "a/f.txt", NewPath: "a/b/g.txt"}).info(t)
	if info.Path != home("a/b/g.txt") || info.Size != 5 {
		t.Fatalf("rename: %+v", info)
	}
	if _, err := os.Stat(home("a/f.txt")); !os.IsNotExist(err) {
		t.Fatalf("the old name is still there: %v", err)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRename, Path: "a/f.txt", NewPath: "a/h.txt"}).wantErr(t, "rename of a missing file", envdproto.CodeNotFound, home("a/f.txt"))

	call(&envdproto.FileRequest{Op: envdproto.FileRead, Path: "a"}).wantErr(t, "read of a dir", envdproto.CodeFailedPrecondition, "is a directory")
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "a/b"}, []byte("x")).wantErr(t, "write onto a dir", envdproto.CodeFailedPrecondition, home("a/b"))

	if err := os.Symlink("b/g.txt", home("a/tolink")); err != nil {
		t.Fatal(err)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "a/tolink"}).ok(t, "remove a symlink to a file")
	if _, err := os.Lstat(home("a/tolink")); !os.IsNotExist(err) {
		t.Fatalf("the symlink is still there: %v", err)
	}
	if _, err := os.Lstat(home("a/b/g.txt")); err != nil {
		t.Fatalf("removing a symlink removed its target: %v", err)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "a/b"}).ok(t, "remove a dir")
	if _, err := os.Lstat(home("a/b")); !os.IsNotExist(err) {
		t.Fatalf("a/b is still there: %v", err)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "a/link"}).ok(t, "remove a symlink")
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "a/b"}).wantErr(t, "remove of a missing dir", envdproto.CodeNotFound, home("a/b"))
	for _, p := range []string{e.home, ".", e.root, filepath.Dir(e.root)} {
		call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: p}).wantErr(t, "remove "+p, envdproto.CodeInvalidArgument)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRename, Path: e.home, NewPath: filepath.Join(e.root, "moved")}).wantErr(t, "rename of home", envdproto.CodeInvalidArgument, "home")
	if names := dirNames(t, home("a")); len(names) != 0 {
		t.Fatalf("a holds %q", names)
	}
	call(&envdproto.FileRequest{Op: "chown", Path: "a"}).wantErr(t, "unknown op", envdproto.CodeInvalidArgument)
}
