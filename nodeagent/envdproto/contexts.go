package envdproto

// Context operations (ContextRequest.Op).
const (
	ContextCreate    = "create"    // start an interpreter; reply: the new context
	ContextList      = "list"      // reply: every context
	ContextRestart   = "restart"   // start ID's interpreter afresh (state gone); reply: the context
	ContextRemove    = "remove"    // stop ID's interpreter; reply: empty
	ContextInterrupt = "interrupt" // interrupt ID's running cell (KeyboardInterrupt); reply: the context
)

// ContextRequest manages code-interpreter contexts: long-lived
// interpreters (PYTHON, JAVASCRIPT, TYPESCRIPT) that keep variables, imports and the
// working directory between executions. It is the payload of a
// FrameContextRequest; envd answers with one FrameContextReply or
// FrameError (NOT_FOUND for an unknown ID, INVALID_ARGUMENT for a
// language without contexts or a bad cwd).
type ContextRequest struct {
	Op string `json:"op"`
	// ID names the context: for create the caller's choice (the control
	// plane sends random ids, unique across sandboxes; envd makes one
	// when it is empty); all but list need it.
	ID       string            `json:"id,omitempty"`
	Language string            `json:"language,omitempty"` // create
	Cwd      string            `json:"cwd,omitempty"`      // create: absolute; "": the user's home
	Env      map[string]string `json:"env,omitempty"`      // create: added to envd's base env
}

// HasContexts reports whether lang (PYTHON, …) has code-interpreter
// contexts: PYTHON, JAVASCRIPT and TYPESCRIPT.
func HasContexts(lang string) bool {
	return lang == LangPython || lang == LangJavaScript || lang == LangTypeScript
}

// ContextInfo describes one context.
type ContextInfo struct {
	ID          string `json:"id"` // the creator's choice, or "ctx_" and envd's sequence
	Language    string `json:"language"`
	Cwd         string `json:"cwd"` // as created; the interpreter may have changed it since
	CreatedAtNS int64  `json:"createdAtNs"`
	Busy        bool   `json:"busy,omitempty"` // a cell is running
}

// ContextReply answers a ContextRequest.
type ContextReply struct {
	Contexts []ContextInfo `json:"contexts"` // one for create, restart, interrupt; all for list
}

// DisplayData is a rich result of a context execution, the payload of a
// FrameDisplay, sent as it occurs: a trailing expression's value
// ("text/plain", and richer types its object offers), a figure
// ("image/png"), or what the program passed to display().
type DisplayData struct {
	// Type is the MIME type: text/plain, text/html, image/png,
	// image/svg+xml, application/json, …
	Type string `json:"type"`
	// Data is text as is; binary types (image/png) base64-encoded.
	Data string `json:"data"`
}
