package graph

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/auth"
	"github.com/codeint/codeint/controlplane/sandboxes"
)

// filesEndpoint serves large files over plain HTTP:
//
//	PUT /files/{sandboxId}?path=…   body → the file (201 and the FileInfo as JSON)
//	GET /files/{sandboxId}?path=…   the file → body (application/octet-stream)
//
// with the same "Authorization: Bearer <key>" as /graphql. GET sends the
// file's size as the X-Codeint-Size header and its SHA-256 (computed in
// the sandbox over the bytes sent) as the X-Codeint-Sha256 trailer; PUT
// answers with the FileInfo, SHA-256 included.
// Errors are GraphQL-shaped JSON bodies with extensions.code.
const filesEndpoint = "/files"

// sha256Trailer carries a downloaded file's SHA-256 (hex); sizeHeader its
// size as it was opened.
const (
	sha256Trailer = "X-Codeint-Sha256"
	sizeHeader    = "X-Codeint-Size"
)

// filesHandler serves filesEndpoint.
type filesHandler struct {
	files sandboxes.FilesAPI // nil: UNAVAILABLE
	log   *slog.Logger
}

func (h filesHandler) routes(mux *http.ServeMux, authn authenticator) {
	mux.Handle("PUT "+filesEndpoint+"/{sandboxId}", authn.middleware(http.HandlerFunc(h.put)))
	mux.Handle("GET "+filesEndpoint+"/{sandboxId}", authn.middleware(http.HandlerFunc(h.get)))
}

// request returns the caller's team, the sandbox and the path, or writes
// why it cannot.
func (h filesHandler) request(w http.ResponseWriter, r *http.Request) (team, sandboxID, path string, ok bool) {
	p, found := auth.FromContext(r.Context())
	switch {
	case !found || p.TeamID == "":
		h.fail(w, r, apperr.New(apperr.Unauthenticated, "an API key is required"))
	case h.files == nil:
		h.fail(w, r, errNotConfigured("files"))
	case r.URL.Query().Get("path") == "":
		h.fail(w, r, apperr.New(apperr.InvalidArgument, "the path query parameter is required: %s/{sandboxId}?path=/home/user/file", filesEndpoint))
	default:
		return p.TeamID, r.PathValue("sandboxId"), r.URL.Query().Get("path"), true
	}
	return "", "", "", false
}

func (h filesHandler) put(w http.ResponseWriter, r *http.Request) {
	team, id, path, ok := h.request(w, r)
	if !ok {
		return
	}
	fi, err := h.files.WriteFile(r.Context(), team, id, path, r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := json.Marshal(toFileInfo(fi))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
}

func (h filesHandler) get(w http.ResponseWriter, r *http.Request) {
	team, id, path, ok := h.request(w, r)
	if !ok {
		return
	}
	f, err := h.files.OpenFile(r.Context(), team, id, path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	// No Content-Length: a trailer needs the chunked encoding. The size
	// is a header of its own.
	w.Header().Set(sizeHeader, strconv.FormatInt(f.Info().Size, 10))
	w.Header().Set("Trailer", sha256Trailer)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		// The status is sent: the missing trailer tells the client.
		h.log.WarnContext(r.Context(), "files: download failed", "sandbox_id", id, "path", path, "error", err)
		return
	}
	w.Header().Set(sha256Trailer, f.SHA256())
}

// fail writes err as a GraphQL-shaped error with the status of its code.
func (h filesHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := apperr.CodeOf(err)
	msg := err.Error()
	if code == "" || code == apperr.Internal {
		if r.Context().Err() == nil { // not just the client going away
			h.log.ErrorContext(r.Context(), "files: internal error", "error", err)
		}
		code, msg = apperr.Internal, internalMessage
	}
	writeErrorBody(w, httpStatus(code), code, msg)
}
