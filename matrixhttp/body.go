package matrixhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
)

// MaxJSONBody bounds JSON request bodies (events are at most 65536 bytes;
// other bodies, such as key uploads, can be larger).
const MaxJSONBody = 1 << 20

// MaxJSONDepth is the deepest nesting of objects and arrays accepted in any
// JSON request body, client or federation, whatever it carries: event
// content, to-device messages, account data, filters, keys, transactions.
// Events are refused past canonicaljson.MaxDepth (512) levels, and the
// deepest envelope a request puts an event in is a federation
// transaction's {"pdus":[event]}, two levels more: 514 lets every event
// the server accepts arrive, in a transaction too, and nothing a client
// stores (and other clients later receive in /sync) is nested much deeper
// than an event may be. Bodies that become event content are then held
// to the event limit itself when the event is built.
const MaxJSONDepth = canonicaljson.MaxDepth + 2

// ReadJSON decodes the request body into v: M_TOO_LARGE past MaxJSONBody,
// M_NOT_JSON for a body that is not JSON or not UTF-8, M_BAD_JSON for JSON
// nested deeper than MaxJSONDepth or of the wrong shape. An empty body
// decodes as {}.
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
	if err := CheckJSON(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return core.ErrBadJSON.WithMessage("%s", DescribeJSONError(err))
	}
	return nil
}

// ReadJSONBody reads a body that must be one JSON value and returns it as
// sent, checked as CheckJSON does; an empty body is M_NOT_JSON.
func ReadJSONBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := ReadBody(r, limit)
	if err != nil {
		return nil, err
	}
	if err := CheckJSON(body); err != nil {
		return nil, err
	}
	return body, nil
}

// ReadBody reads at most limit bytes of the body, M_TOO_LARGE beyond. It
// does not look at the bytes: JSON bodies go through ReadJSON,
// ReadJSONBody or CheckJSON.
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

var (
	errNotUTF8  = core.ErrNotJSON.WithMessage("Body is not valid UTF-8")
	errTooDeep  = core.ErrBadJSON.WithMessage("JSON is nested more than %d levels deep", MaxJSONDepth)
	errNotValid = core.ErrNotJSON
)

// CheckJSON accepts b only if it is one JSON value in valid UTF-8 (else
// M_NOT_JSON) nested at most MaxJSONDepth levels (else M_BAD_JSON).
// encoding/json alone would accept invalid UTF-8, replacing it with U+FFFD
// when decoding but keeping it in raw messages, and nesting up to 10,000
// levels.
func CheckJSON(b []byte) error {
	if !utf8.Valid(b) {
		return errNotUTF8
	}
	if jsonDepth(b) > MaxJSONDepth {
		return errTooDeep
	}
	if !json.Valid(b) {
		return errNotValid
	}
	return nil
}

// jsonDepth returns the deepest nesting of objects and arrays in b, in one
// pass without allocating: brackets inside strings do not count. For text
// that is not JSON the answer is only an upper bound, which is enough
// since such text is refused anyway.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				deepest = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
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
