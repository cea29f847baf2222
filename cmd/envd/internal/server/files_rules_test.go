package server

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

func TestFilePathRules(t *testing.T) {
	e := newFileEnv(t)
	call := func(req *envdproto.FileRequest) fileReply { t.Helper(); return fileCall(t, e.sess, req, nil) }
	write := func(p string) fileReply {
		t.Helper()
		return fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: p}, []byte("data"))
	}
	if err := os.WriteFile(filepath.Join(e.outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{"..", "../x", "a/../b", "a/..", e.home + "/../home/x", "a/b/../../../x", "a\x00b", ""} {
		for _, op := range []string{envdproto.FileRead, envdproto.FileStat, envdproto.FileMkdir, envdproto.FileExists} {
			call(&envdproto.FileRequest{Op: op, Path: p}).wantErr(t, op+" "+p, envdproto.CodeInvalidArgument)
		}
		write(p).wantErr(t, "write "+p, envdproto.CodeInvalidArgument)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRename, Path: "x", NewPath: "../y"}).wantErr(t, "rename to ..", envdproto.CodeInvalidArgument)
	if _, err := os.Stat(filepath.Join(e.root, "x")); !os.IsNotExist(err) {
		t.Fatalf("a refused write landed: %v", err)
	}

	// Symlinks out of the file root: to a directory, to a file, and a
	// dangling one whose target's directory exists.
	for name, target := range map[string]string{"out": e.outside, "sec": filepath.Join(e.outside, "secret.txt"),
		"dangling": filepath.Join(e.outside, "new.txt"), "up": "../.."} {
		if err := os.Symlink(target, filepath.Join(e.home, name)); err != nil {
			t.Fatal(err)
		}
	}
	outside := func(what string, rep fileReply) {
		t.Helper()
		rep.wantErr(t, what, envdproto.CodeInvalidArgument, "resolves outside the sandbox's files")
	}
	outside("read through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileRead, Path: "out/secret.txt"}))
	outside("read through a file symlink", call(&envdproto.FileRequest{Op: envdproto.FileRead, Path: "sec"}))
	outside("stat through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileStat, Path: "out/secret.txt"}))
	outside("list through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileList, Path: "out"}))
	outside("watch through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileWatch, Path: "out"}))
	outside("write through a dir symlink", write("out/new.txt"))
	outside("write through a file symlink", write("sec"))
	outside("mkdir through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileMkdir, Path: "out/d/e"}))
	outside("remove through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "out/secret.txt"}))
	outside("rename out through a dir symlink", call(&envdproto.FileRequest{Op: envdproto.FileRename, Path: "out/secret.txt", NewPath: "got.txt"}))
	outside("list the root's parent through a symlink", call(&envdproto.FileRequest{Op: envdproto.FileList, Path: "up"}))
	// The symlink itself is in the root: stat describes it, and a write
	// onto the dangling one replaces the link, never creating its target.
	if info := call(&envdproto.FileRequest{Op: envdproto.FileStat, Path: "out"}).info(t); info.Type != envdproto.FileTypeSymlink || info.LinkTarget != e.outside {
		t.Fatalf("stat of the symlink: %+v", info)
	}
	write("dangling").ok(t, "write onto a dangling symlink")
	if _, err := os.Lstat(filepath.Join(e.outside, "new.txt")); !os.IsNotExist(err) {
		t.Fatalf("a write through a dangling symlink created its target outside the root: %v", err)
	}
	if names := dirNames(t, e.outside); len(names) != 1 {
		t.Fatalf("outside holds %q", names)
	}

	// A FIFO must be refused at once, never opened for good.
	fifo := filepath.Join(e.home, "fifo")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(fifo, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	for _, op := range []string{envdproto.FileRead, envdproto.FileStat, envdproto.FileList, envdproto.FileWatch} {
		call(&envdproto.FileRequest{Op: op, Path: "fifo"}).wantErr(t, op+" of a FIFO", envdproto.CodeInvalidArgument, fifo)
	}
	write("fifo").wantErr(t, "write onto a FIFO", envdproto.CodeInvalidArgument, fifo)
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("refusing the FIFO took %v", d)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", fi, err)
	}
	// exists says it is there, a listing leaves it out, remove takes it.
	if rep := call(&envdproto.FileRequest{Op: envdproto.FileExists, Path: "fifo"}); rep.err != nil || !rep.replies[0].Exists {
		t.Fatalf("exists of a FIFO: %+v %+v", rep.err, rep.replies)
	}
	rep := call(&envdproto.FileRequest{Op: envdproto.FileList, Path: "."})
	rep.ok(t, "list")
	for _, en := range rep.replies[0].Entries {
		if en.Name == "fifo" || en.Type == "" {
			t.Fatalf("listed %+v", en)
		}
	}
	if len(rep.replies[0].Entries) != 4 { // out, sec, up, and dangling (a file now)
		t.Fatalf("listed %+v", rep.replies[0].Entries)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "fifo"}).ok(t, "remove a FIFO")
}

// TestFilePseudoFilesystems uses FileRoot "/": /proc, /sys and /dev stay
// out of reach, directly and through a symlink. (The user is uid 65534:
// were the rule broken, the kernel would still keep /dev/null safe.)
func TestFilePseudoFilesystems(t *testing.T) {
	e := newFileEnvRoot(t, true)
	home, sess := e.home, e.sess
	call := func(req *envdproto.FileRequest) fileReply { t.Helper(); return fileCall(t, sess, req, nil) }
	if err := os.Symlink("/proc/self/environ", filepath.Join(home, "env")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self", filepath.Join(home, "self")); err != nil {
		t.Fatal(err)
	}
	for _, req := range []*envdproto.FileRequest{
		{Op: envdproto.FileRead, Path: "/proc/self/environ"},
		{Op: envdproto.FileRead, Path: "env"},
		{Op: envdproto.FileRead, Path: "self/environ"},
		{Op: envdproto.FileStat, Path: "/proc/self/environ"},
		{Op: envdproto.FileList, Path: "/proc"},
		{Op: envdproto.FileRead, Path: "/sys/kernel/mm/transparent_hugepage/enabled"},
		{Op: envdproto.FileList, Path: "/sys"},
		{Op: envdproto.FileRead, Path: "/dev/null"},
		{Op: envdproto.FileStat, Path: "/dev/null"},
		{Op: envdproto.FileWatch, Path: "/dev"},
		{Op: envdproto.FileRemove, Path: "/dev/null"},
	} {
		call(req).wantErr(t, req.Op+" "+req.Path, envdproto.CodeInvalidArgument, "resolves outside the sandbox's files")
	}
	fileCall(t, sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "/dev/null"}, []byte("x")).wantErr(t,
		"write /dev/null", envdproto.CodeInvalidArgument, "resolves outside")
	// The rest of "/" is there: the symlink itself, and /etc.
	if info := call(&envdproto.FileRequest{Op: envdproto.FileStat, Path: "env"}).info(t); info.LinkTarget != "/proc/self/environ" {
		t.Fatalf("stat of the symlink: %+v", info)
	}
	if rep := call(&envdproto.FileRequest{Op: envdproto.FileRead, Path: "/etc/passwd"}); rep.err != nil || !strings.Contains(string(rep.data), "root:") {
		t.Fatalf("read /etc/passwd: %+v", rep.err)
	}
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: "/"}).wantErr(t, "remove /", envdproto.CodeInvalidArgument)
}

func TestFilePermissionDenied(t *testing.T) {
	e := newFileEnv(t)
	locked := filepath.Join(e.root, "locked") // root's, 0755
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locked, "private"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(locked, "f.txt")
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: target}, randomBytes(3<<20)).wantErr(t,
		"write into a root-owned dir", envdproto.CodeFailedPrecondition, target, "permission denied")
	deep := filepath.Join(locked, "new/deeper/f.txt")
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: deep}, []byte("x")).wantErr(t,
		"write below a root-owned dir", envdproto.CodeFailedPrecondition, deep, "permission denied")
	call := func(req *envdproto.FileRequest) fileReply { t.Helper(); return fileCall(t, e.sess, req, nil) }
	call(&envdproto.FileRequest{Op: envdproto.FileMkdir, Path: filepath.Join(locked, "d")}).wantErr(t, "mkdir", envdproto.CodeFailedPrecondition, "permission denied")
	call(&envdproto.FileRequest{Op: envdproto.FileRead, Path: filepath.Join(locked, "private")}).wantErr(t, "read a 0600 file of root's", envdproto.CodeFailedPrecondition, "permission denied")
	call(&envdproto.FileRequest{Op: envdproto.FileRemove, Path: filepath.Join(locked, "private")}).wantErr(t, "remove", envdproto.CodeFailedPrecondition, "permission denied")
	call(&envdproto.FileRequest{Op: envdproto.FileRename, Path: filepath.Join(locked, "private"), NewPath: "mine"}).wantErr(t, "rename", envdproto.CodeFailedPrecondition, "permission denied")
	if names := dirNames(t, locked); len(names) != 1 {
		t.Fatalf("locked holds %q", names)
	}
	// The same as root's file system identity would have worked: the user's is used.
	if fi, err := os.Stat(filepath.Join(locked, "private")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatal(fi, err)
	}
}

// mountTmpfs mounts a tmpfs with options on dir (made for it, owned by the
// file tests' user), and unmounts it when t ends.
func mountTmpfs(t *testing.T, dir string, flags uintptr, options string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, options); err != nil {
		t.Fatalf("mount a tmpfs on %s (the test needs root): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

func TestFileDiskFull(t *testing.T) {
	e := newFileEnv(t)
	small := filepath.Join(e.home, "small")
	mountTmpfs(t, small, 0, "size=1m,mode=0755,uid=65534,gid=65534")
	data := randomBytes(2 << 20)
	for _, p := range []string{"small/f.bin", "small/new/dir/f.bin"} {
		fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: p}, data).wantErr(t,
			"write 2 MiB into 1 MiB", envdproto.CodeResourceExhausted, filepath.Join(e.home, p))
		if names := dirNames(t, small); len(names) != 0 {
			t.Fatalf("after a failed write of %s the tmpfs holds %q", p, names)
		}
	}
	// What fits still does.
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "small/ok.bin"}, data[:512<<10]).ok(t, "write 512 KiB")

	ro := filepath.Join(e.home, "ro")
	mountTmpfs(t, ro, unix.MS_RDONLY, "mode=0777")
	p := filepath.Join(ro, "f.txt")
	fileCall(t, e.sess, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: p}, []byte("x")).wantErr(t,
		"write on a read-only file system", envdproto.CodeFailedPrecondition, p+" is on a read-only file system")
}

func TestFileWriteCanceled(t *testing.T) {
	e := newFileEnv(t)
	st, err := e.sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := envdproto.WriteJSON(st, envdproto.FrameFileRequest, &envdproto.FileRequest{Op: envdproto.FileWrite, Path: "up/deep/f.bin"}); err != nil {
		t.Fatal(err)
	}
	chunk := randomBytes(envdproto.MaxDataChunk)
	for range 16 {
		if err := envdproto.WriteFrame(st, envdproto.FrameData, chunk); err != nil {
			t.Fatal(err)
		}
	}
	// yamux's window (256 KiB) means envd has taken in most of it: the
	// temporary file is there.
	deep := filepath.Join(e.home, "up/deep")
	var names []string
	for i := 0; len(names) == 0; i++ {
		if i == 100 {
			t.Fatal("no temporary file appeared")
		}
		time.Sleep(10 * time.Millisecond)
		if _, err := os.Stat(deep); err == nil {
			names = dirNames(t, deep)
		}
	}
	if len(names) != 1 || !strings.HasPrefix(names[0], uploadPrefix) {
		t.Fatalf("up/deep holds %q", names)
	}
	st.Close() // cancel: no empty Data frame
	for i := 0; ; i++ {
		if _, err := os.Lstat(filepath.Join(e.home, "up")); os.IsNotExist(err) {
			break
		}
		if i == 200 {
			t.Fatalf("a canceled upload left behind %q", dirNames(t, e.home))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if names := dirNames(t, e.home); len(names) != 0 {
		t.Fatalf("home holds %q", names)
	}
}

// TestFileReadCanceled closes the stream after the first Data frame: envd
// stops sending, though the agent is still reading.
func TestFileReadCanceled(t *testing.T) {
	e := newFileEnv(t)
	const size = 32 << 20
	path := filepath.Join(e.home, "big.bin")
	if err := os.WriteFile(path, randomBytes(size), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := e.sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := envdproto.WriteJSON(st, envdproto.FrameFileRequest, &envdproto.FileRequest{Op: envdproto.FileRead, Path: path}); err != nil {
		t.Fatal(err)
	}
	received := 0
	for frames := 0; ; frames++ {
		ft, payload, err := envdproto.ReadFrame(st)
		if err != nil {
			// envd may stop inside a frame: the agent canceled.
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("after %d bytes: %v", received, err)
			}
			break
		}
		if ft == envdproto.FrameData {
			received += len(payload)
		}
		if frames == 1 {
			st.Close() // cancel; go on reading what envd sends still
		}
	}
	if received >= size/2 {
		t.Fatalf("envd sent %d of %d bytes after the cancel", received, size)
	}
}
