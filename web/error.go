package web

import (
	"net/http"

	"hearth.dev/hearth/matrixhttp"
)

// writeError sends err as a Matrix error through the one error writer
// (matrixhttp.WriteError).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	matrixhttp.WriteError(w, r, err)
}

// writeJSON sends v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	matrixhttp.WriteJSON(w, status, v)
}
