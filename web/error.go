package web

import (
	"net/http"

	"hearth.dev/hearth/matrixhttp"
)

// writeJSON sends v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	matrixhttp.WriteJSON(w, status, v)
}
