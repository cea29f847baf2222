package envdproto

// File operations (FileRequest.Op).
const (
	// FileRead: reply Info (no SHA256), then Data frames, an empty Data
	// frame, and a last reply whose Info has the SHA256 of the bytes sent.
	FileRead   = "read"
	FileWrite  = "write"  // agent sends Data frames and an empty one after the request; reply Info
	FileStat   = "stat"   // reply Info
	FileExists = "exists" // reply Exists
	FileList   = "list"   // reply Entries, Depth levels deep
	FileMkdir  = "mkdir"  // with parents; reply Info
	FileRemove = "remove" // a file, or a directory and all it holds; reply empty
	FileRename = "rename" // Path to NewPath; reply Info of NewPath
	FileWatch  = "watch"  // reply empty, then WatchEvent frames until the agent closes the stream
)

// FileRequest is one file operation inside the sandbox, the payload of a
// FrameFileRequest. envd does it with the user's file-system identity, so
// the kernel checks it as the user's own access.
//
// Path (and NewPath) are absolute, or relative to the user's home. A path
// with a ".." element, one that resolves (through symlinks) into /proc,
// /sys or /dev, and a device, FIFO or socket to read, write, stat, rename,
// list or watch are refused with INVALID_ARGUMENT (exists and remove take
// one; a listing leaves them out). Other errors: NOT_FOUND (no such path),
// ALREADY_EXISTS, FAILED_PRECONDITION (a read-only path, a directory where
// a file is needed, a non-empty directory), RESOURCE_EXHAUSTED (the disk
// quota; a failed write leaves nothing behind: data goes to a temporary
// file renamed over Path only once complete).
//
// When a write fails, envd replies Error at once, then reads and drops the
// rest of the upload (up to the empty Data frame, or until the agent
// closes the stream). A watch's stream is ended by envd too: after the
// watched directory's own REMOVE or RENAME event, and with a
// RESOURCE_EXHAUSTED Error when events were lost (the kernel's queue
// overflowed).
type FileRequest struct {
	Op        string `json:"op"`
	Path      string `json:"path"`
	NewPath   string `json:"newPath,omitempty"`   // rename
	Depth     int    `json:"depth,omitempty"`     // list: levels below Path (0 means 1)
	Recursive bool   `json:"recursive,omitempty"` // watch: subdirectories too
	Mode      uint32 `json:"mode,omitempty"`      // write, mkdir: permission bits (0: 0644, 0755)
	// Hash asks for FileInfo.SHA256 of regular files (stat, list; read
	// and write always have it: it is computed over the bytes sent).
	Hash bool `json:"hash,omitempty"`
}

// File types (FileInfo.Type).
const (
	FileTypeFile    = "FILE"
	FileTypeDir     = "DIR"
	FileTypeSymlink = "SYMLINK"
)

// FileInfo describes one file. Its Type is of Path itself (lstat), except
// in the replies of read and write, which describe the file whose bytes
// travel (a symlink's target).
type FileInfo struct {
	Name       string `json:"name"`
	Path       string `json:"path"` // absolute, as asked (symlinks not resolved)
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	Mode       uint32 `json:"mode"` // permission bits
	ModTimeNS  int64  `json:"modTimeNs"`
	SHA256     string `json:"sha256,omitempty"` // hex, regular files only
	LinkTarget string `json:"linkTarget,omitempty"`
}

// FileReply answers a FileRequest.
type FileReply struct {
	Info    *FileInfo  `json:"info,omitempty"`
	Entries []FileInfo `json:"entries,omitempty"`
	Exists  bool       `json:"exists,omitempty"`
}

// Watch event types.
const (
	WatchCreate = "CREATE"
	WatchWrite  = "WRITE"
	WatchRemove = "REMOVE"
	WatchRename = "RENAME"
	WatchChmod  = "CHMOD"
)

// WatchEvent is a change under a watched directory.
type WatchEvent struct {
	Type  string `json:"type"`
	Path  string `json:"path"` // absolute
	AtNS  int64  `json:"atNs"`
	IsDir bool   `json:"isDir,omitempty"`
}
