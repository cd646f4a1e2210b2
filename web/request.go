package web

import (
	"net/http"

	"hearth.dev/hearth/matrixhttp"
)

// maxJSONBody bounds JSON request bodies (matrixhttp.MaxJSONBody).
const maxJSONBody = matrixhttp.MaxJSONBody

// readJSON decodes the request body into v (matrixhttp.ReadJSON).
func readJSON(r *http.Request, v any) error { return matrixhttp.ReadJSON(r, v) }

// readBody reads at most limit bytes of the body, M_TOO_LARGE beyond.
func readBody(r *http.Request, limit int64) ([]byte, error) { return matrixhttp.ReadBody(r, limit) }

// describeJSONError names the field of a type mismatch without Go types.
func describeJSONError(err error) string { return matrixhttp.DescribeJSONError(err) }
