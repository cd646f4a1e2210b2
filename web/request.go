package web

import (
	"net/http"

	"hearth.dev/hearth/matrixhttp"
)

// maxJSONBody bounds JSON request bodies (matrixhttp.MaxJSONBody).
const maxJSONBody = matrixhttp.MaxJSONBody

// readJSON decodes the request body into v (matrixhttp.ReadJSON).
func readJSON(r *http.Request, v any) error { return matrixhttp.ReadJSON(r, v) }

// readJSONBody reads a body that must be one JSON value and returns it as
// sent (matrixhttp.ReadJSONBody: UTF-8, nesting depth and syntax checked).
func readJSONBody(r *http.Request) ([]byte, error) { return matrixhttp.ReadJSONBody(r, maxJSONBody) }

// describeJSONError names the field of a type mismatch without Go types.
func describeJSONError(err error) string { return matrixhttp.DescribeJSONError(err) }
