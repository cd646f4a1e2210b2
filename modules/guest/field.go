package guest

import (
	"encoding/json"
	"unicode/utf8"
)

// StringField returns the string at path in the JSON object doc (each
// element of path a key of the object below), with ok false when it is
// missing or not a string. It reads doc without decoding the rest of it,
// which in a module is many times cheaper than encoding/json; a key that
// appears twice gives its last value, as encoding/json does. It does not
// check that the parts of doc it skips are valid JSON.
func StringField(doc []byte, path ...string) (string, bool) {
	if len(path) == 0 {
		return "", false
	}
	s := scanner{b: doc}
	return s.field(path)
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// field reads the object at s.i and returns the string at path in it.
func (s *scanner) field(path []string) (out string, found bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return "", false
	}
	s.i++
	for {
		s.ws()
		if s.i >= len(s.b) {
			return "", false
		}
		if s.b[s.i] == '}' {
			s.i++
			return out, found
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		key, ok := s.str()
		if !ok {
			return "", false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return "", false
		}
		s.i++
		s.ws()
		if s.i >= len(s.b) {
			return "", false
		}
		if key != path[0] {
			if !s.skip() {
				return "", false
			}
			continue
		}
		if len(path) == 1 {
			if s.b[s.i] == '"' {
				v, ok := s.str()
				if !ok {
					return "", false
				}
				out, found = v, true
				continue
			}
			out, found = "", false
			if !s.skip() {
				return "", false
			}
			continue
		}
		if s.b[s.i] == '{' {
			start := s.i
			v, ok := s.field(path[1:])
			out, found = v, ok
			s.i = start
		} else {
			out, found = "", false
		}
		if !s.skip() {
			return "", false
		}
	}
}

// str reads the string at s.i (which is '"') and returns it unescaped.
func (s *scanner) str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i
	escaped := false
	for j := s.i + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			s.i = j + 1
			if !escaped && utf8.Valid(s.b[start+1:j]) {
				return string(s.b[start+1 : j]), true
			}
			// Escapes and invalid UTF-8 (which becomes U+FFFD): as
			// encoding/json reads them.
			var v string
			if err := json.Unmarshal(s.b[start:j+1], &v); err != nil {
				return "", false
			}
			return v, true
		}
	}
	return "", false
}

// skip passes the value at s.i.
func (s *scanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return true
			}
			s.i++
		}
		return true
	}
}
