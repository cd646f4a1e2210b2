package canonicaljson

import (
	"bytes"
	"unicode/utf8"
)

// Members calls fn for each member of the JSON object obj, in input order,
// with the decoded key and the raw bytes of the value (a sub-slice of obj,
// without surrounding space). key is only valid during the call. It stops
// at the first error fn returns and returns it.
//
// obj is checked for structure only; give it canonical or otherwise
// validated JSON when values must be valid too. Malformed structure gives
// an error wrapping ErrInvalid.
func Members(obj []byte, fn func(key, value []byte) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return &SyntaxError{Offset: i, Msg: "not a JSON object"}
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return trailing(obj, i+1)
	}
	var keyBuf []byte
	for {
		if i >= len(obj) || obj[i] != '"' {
			return &SyntaxError{Offset: i, Msg: "expected string for object key"}
		}
		end, err := skipString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			keyBuf, err = appendUnquoted(keyBuf[:0], obj[i:end])
			if err != nil {
				return err
			}
			key = keyBuf
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return &SyntaxError{Offset: i, Msg: "expected ':' after object key"}
		}
		i = skipSpace(obj, i+1)
		vEnd, err := skipValue(obj, i, 1)
		if err != nil {
			return err
		}
		if err := fn(key, obj[i:vEnd]); err != nil {
			return err
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) {
			return &SyntaxError{Offset: i, Msg: "unexpected end of input in object"}
		}
		switch obj[i] {
		case '}':
			return trailing(obj, i+1)
		case ',':
			i = skipSpace(obj, i+1)
		default:
			return &SyntaxError{Offset: i, Msg: "expected ',' or '}' in object"}
		}
	}
}

// Elements calls fn for each element of the JSON array arr, in order, with
// its raw bytes (a sub-slice of arr). Like Members, it checks structure only.
func Elements(arr []byte, fn func(value []byte) error) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return &SyntaxError{Offset: i, Msg: "not a JSON array"}
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return trailing(arr, i+1)
	}
	for {
		end, err := skipValue(arr, i, 1)
		if err != nil {
			return err
		}
		if err := fn(arr[i:end]); err != nil {
			return err
		}
		i = skipSpace(arr, end)
		if i >= len(arr) {
			return &SyntaxError{Offset: i, Msg: "unexpected end of input in array"}
		}
		switch arr[i] {
		case ']':
			return trailing(arr, i+1)
		case ',':
			i = skipSpace(arr, i+1)
		default:
			return &SyntaxError{Offset: i, Msg: "expected ',' or ']' in array"}
		}
	}
}

// Unquote decodes the JSON string raw (with its quotes). It refuses
// invalid UTF-8, lone surrogates and bad escapes.
func Unquote(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		body := raw[1 : len(raw)-1]
		simple := true
		for _, c := range body {
			if !safe[c] {
				simple = false
				break
			}
		}
		if simple {
			return string(body), nil
		}
	}
	b, err := appendUnquoted(nil, raw)
	return string(b), err
}

// appendUnquoted appends the decoded text of the JSON string raw to dst.
func appendUnquoted(dst, raw []byte) ([]byte, error) {
	e := encoder{in: raw, out: dst}
	if len(raw) == 0 || raw[0] != '"' {
		return dst, e.fail("not a JSON string")
	}
	e.pos = 1
	for e.pos < len(raw) {
		c := raw[e.pos]
		switch {
		case c == '"':
			if e.pos != len(raw)-1 {
				return dst, e.fail("data after string")
			}
			return e.out, nil
		case c == '\\':
			r, err := e.escape()
			if err != nil {
				return dst, err
			}
			e.out = utf8.AppendRune(e.out, r)
		case c < 0x20:
			return dst, e.fail("control character in string")
		case c < utf8.RuneSelf:
			e.out = append(e.out, c)
			e.pos++
		default:
			r, size := utf8.DecodeRune(raw[e.pos:])
			if r == utf8.RuneError && size <= 1 {
				return dst, e.fail("invalid UTF-8 in string")
			}
			e.out = append(e.out, raw[e.pos:e.pos+size]...)
			e.pos += size
		}
	}
	return dst, e.fail("unexpected end of input in string")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func trailing(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return &SyntaxError{Offset: i, Msg: "data after top-level value"}
	}
	return nil
}

// skipString returns the offset just after the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return i, &SyntaxError{Offset: len(b), Msg: "unexpected end of input in string"}
}

// skipValue returns the offset just after the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, &SyntaxError{Offset: i, Msg: "unexpected end of input"}
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth > MaxDepth {
			return i, &SyntaxError{Offset: i, Msg: "nesting too deep"}
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, &SyntaxError{Offset: i, Msg: "expected string for object key"}
				}
				end, err := skipString(b, i)
				if err != nil {
					return end, err
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return i, &SyntaxError{Offset: i, Msg: "expected ':' after object key"}
				}
				i = skipSpace(b, i+1)
			}
			end, err := skipValue(b, i, depth+1)
			if err != nil {
				return end, err
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return i, &SyntaxError{Offset: i, Msg: "unexpected end of input"}
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, &SyntaxError{Offset: i, Msg: "expected ',' or closing bracket"}
			}
			i = skipSpace(b, i+1)
		}
	default:
		start := i
		for i < len(b) && (b[i] == '-' || b[i] == '+' || b[i] == '.' ||
			(b[i] >= '0' && b[i] <= '9') || (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' && b[i] <= 'Z')) {
			i++
		}
		if i == start {
			return i, &SyntaxError{Offset: i, Msg: "invalid character looking for a value"}
		}
		return i, nil
	}
}
