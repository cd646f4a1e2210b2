package federation

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth.dev/hearth/core/signing"
)

// ErrBadAuthorization is wrapped by ParseXMatrix for a header that is not a
// well-formed X-Matrix authorization.
var ErrBadAuthorization = errors.New("malformed X-Matrix authorization")

// XMatrix is the content of an "Authorization: X-Matrix ..." header
// (server-server API, "Request Authentication").
type XMatrix struct {
	Origin      string
	Destination string // "" when the sender left it out (servers before v1.3)
	Key         string // key ID, e.g. "ed25519:abc"
	Sig         string // unpadded base64
}

// String formats the header value as the spec asks senders to: one space
// after the scheme, lower-case names, no spaces around commas, every value
// quoted.
func (x XMatrix) String() string {
	var b strings.Builder
	b.WriteString(`X-Matrix origin=`)
	writeQuoted(&b, x.Origin)
	if x.Destination != "" {
		b.WriteString(`,destination=`)
		writeQuoted(&b, x.Destination)
	}
	b.WriteString(`,key=`)
	writeQuoted(&b, x.Key)
	b.WriteString(`,sig=`)
	writeQuoted(&b, x.Sig)
	return b.String()
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// ParseXMatrix parses an Authorization header value with the X-Matrix
// scheme: the scheme (any case), one or more spaces, then comma-separated
// name=value pairs with optional spaces and tabs around the commas. Names
// are case-insensitive; values are tokens (colons allowed, for older
// servers, and base64's '/' and '=') or quoted strings with backslash escapes. Unknown parameters are
// ignored; origin, key and sig are required, and a parameter given twice is
// refused.
func ParseXMatrix(h string) (XMatrix, error) {
	const scheme = "x-matrix"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || (h[len(scheme)] != ' ' && h[len(scheme)] != '\t') {
		return XMatrix{}, fmt.Errorf("%w: not the X-Matrix scheme", ErrBadAuthorization)
	}
	s := h[len(scheme):]
	var x XMatrix
	seen := map[string]bool{}
	i := 0
	for {
		// Skip whitespace and commas between pairs.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := strings.ToLower(s[start:i])
		if name == "" || i == len(s) || s[i] != '=' {
			return XMatrix{}, fmt.Errorf("%w: expected name=value at byte %d", ErrBadAuthorization, start)
		}
		i++
		var value string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return XMatrix{}, fmt.Errorf("%w: unterminated quoted value of %s", ErrBadAuthorization, name)
			}
			value = b.String()
		} else {
			vstart := i
			for i < len(s) && isUnquotedValueChar(s[i]) {
				i++
			}
			value = s[vstart:i]
			if value == "" {
				return XMatrix{}, fmt.Errorf("%w: empty value of %s", ErrBadAuthorization, name)
			}
		}
		// After a value: whitespace, then a comma or the end.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return XMatrix{}, fmt.Errorf("%w: expected ',' at byte %d", ErrBadAuthorization, i)
		}
		var field *string
		switch name {
		case "origin":
			field = &x.Origin
		case "destination":
			field = &x.Destination
		case "key":
			field = &x.Key
		case "sig":
			field = &x.Sig
		default:
			continue // unknown parameters are ignored
		}
		if seen[name] {
			return XMatrix{}, fmt.Errorf("%w: %s given twice", ErrBadAuthorization, name)
		}
		seen[name] = true
		*field = value
	}
	if x.Origin == "" || x.Key == "" || x.Sig == "" {
		return XMatrix{}, fmt.Errorf("%w: origin, key and sig are required", ErrBadAuthorization)
	}
	return x, nil
}

// isUnquotedValueChar reports whether c may appear in an unquoted value.
// The spec asks for tokens, plus colons for older servers; base64's '/' and
// '=' are accepted as well, since a lenient reading loses nothing here.
func isUnquotedValueChar(c byte) bool {
	return isTokenChar(c) || c == ':' || c == '/' || c == '='
}

// isTokenChar reports whether c is a tchar of RFC 9110 section 5.6.2.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// requestJSON is the object a request signature covers (step 1 of
// "Request Authentication").
type requestJSON struct {
	Method      string          `json:"method"`
	URI         string          `json:"uri"`
	Origin      string          `json:"origin"`
	Destination string          `json:"destination"`
	Content     json.RawMessage `json:"content,omitempty"`
}

// SignRequest returns the X-Matrix authorization of a request from origin
// to destination: method, uri (the path from /_matrix with the query) and
// content (the JSON body, or nil when there is none) signed with key.
func SignRequest(origin, destination string, key signing.Key, method, uri string, content []byte) (XMatrix, error) {
	obj, err := json.Marshal(requestJSON{Method: method, URI: uri, Origin: origin, Destination: destination, Content: content})
	if err != nil {
		return XMatrix{}, fmt.Errorf("federation: request body is not JSON: %w", err)
	}
	signed, err := signing.SignJSON(obj, origin, key.ID, key.Private)
	if err != nil {
		return XMatrix{}, err
	}
	var s struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if err := json.Unmarshal(signed, &s); err != nil {
		return XMatrix{}, err
	}
	return XMatrix{Origin: origin, Destination: destination, Key: key.ID, Sig: s.Signatures[origin][key.ID]}, nil
}

// VerifyRequest checks x's signature of a request received by destination
// (this server's name, whether or not the header named it), with the
// origin's public key pub.
func VerifyRequest(x XMatrix, destination string, pub ed25519.PublicKey, method, uri string, content []byte) error {
	obj, err := json.Marshal(requestJSON{Method: method, URI: uri, Origin: x.Origin, Destination: destination, Content: content})
	if err != nil {
		return fmt.Errorf("federation: request body is not JSON: %w", err)
	}
	sigs, err := json.Marshal(map[string]map[string]map[string]string{"signatures": {x.Origin: {x.Key: x.Sig}}})
	if err != nil {
		return err
	}
	// Splice the signatures member into the object: obj ends with '}'.
	full := append(append(obj[:len(obj)-1:len(obj)-1], ','), sigs[1:]...)
	return signing.VerifyJSON(full, x.Origin, x.Key, pub)
}

func jsonValid(b []byte) bool { return json.Valid(b) }
