// Package matrixhttp is the HTTP side of Matrix errors and JSON bodies,
// shared by both surfaces (web for clients, federation for servers): the
// one Matrix error writer, the JSON response writer and the JSON request
// body reader. It holds no handlers and no state.
//
// Importing the package has no side effects.
package matrixhttp

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"hearth.dev/hearth/core"
)

// A Responder is an error that carries its own answer, such as the 401 of
// user-interactive authentication, whose body holds flows and a session
// beside (or instead of) errcode and error.
type Responder interface {
	error
	// Response returns the HTTP status and the JSON body to send.
	Response() (status int, body any)
}

// WriteError sends err as a Matrix error. A Responder is sent as it says; a
// *core.Error goes out as it is, with a Retry-After header when it carries
// retry_after_ms (M_LIMIT_EXCEEDED); anything else is logged and becomes
// M_UNKNOWN/500 without internals.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var resp Responder
	if errors.As(err, &resp) {
		status, body := resp.Response()
		WriteJSON(w, status, body)
		return
	}
	var me *core.Error
	if errors.As(err, &me) {
		if ms, ok := me.Extra["retry_after_ms"].(int64); ok && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
		}
	} else {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		me = core.ErrUnknown
	}
	body := make(map[string]any, 2+len(me.Extra))
	for k, v := range me.Extra {
		body[k] = v
	}
	body["errcode"] = me.ErrCode
	body["error"] = me.Message
	status := me.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	WriteJSON(w, status, body)
}

// WriteJSON sends v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encoding response", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"Internal server error"}`)
	}
	WriteRawJSON(w, status, b)
}

// WriteRawJSON sends b, already encoded JSON, with the given status.
func WriteRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
