package matrixhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"hearth.dev/hearth/core"
)

// MaxJSONBody bounds JSON request bodies (events are at most 65536 bytes;
// other bodies, such as key uploads, can be larger).
const MaxJSONBody = 1 << 20

// ReadJSON decodes the request body into v: M_TOO_LARGE past MaxJSONBody,
// M_NOT_JSON for a body that is not JSON, M_BAD_JSON for JSON of the wrong
// shape. An empty body decodes as {}.
func ReadJSON(r *http.Request, v any) error {
	return ReadJSONLimit(r, v, MaxJSONBody)
}

// ReadJSONLimit is ReadJSON with another size limit.
func ReadJSONLimit(r *http.Request, v any, limit int64) error {
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) {
		return core.ErrNotJSON
	}
	if err := json.Unmarshal(body, v); err != nil {
		return core.ErrBadJSON.WithMessage("%s", DescribeJSONError(err))
	}
	return nil
}

// ReadBody reads at most limit bytes of the body, M_TOO_LARGE beyond.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, core.ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, core.ErrBadJSON.WithMessage("reading body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, core.ErrTooLarge
	}
	return b, nil
}

// DescribeJSONError names the field of a type mismatch without Go types.
func DescribeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return "wrong type for field " + te.Field
		}
		return "wrong JSON type"
	}
	return "invalid JSON"
}
