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

	"hearth.dev/hearth/core"
)

// WriteError sends err as a Matrix error. A *core.Error goes out as it is;
// anything else is logged and becomes M_UNKNOWN/500 without internals.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var me *core.Error
	if !errors.As(err, &me) {
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
