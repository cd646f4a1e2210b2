package canonicaljson

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// encoder re-encodes one JSON text. It reads in from pos and appends the
// canonical form to out.
type encoder struct {
	in     []byte
	pos    int
	out    []byte
	strict bool

	// members is a stack shared by all open objects: each object pushes
	// its members above its parent's and pops them when it closes.
	members []member
	// scratch holds an object's bytes while they are rewritten in order.
	scratch []byte
}

// member is one "key":value pair already written to out, by offsets
// (out may be reallocated while later members are written).
type member struct {
	start  int  // offset of the opening quote of the key
	keyEnd int  // offset just after the closing quote of the key
	end    int  // offset just after the value; -1 marks a dropped duplicate
	esc    bool // the encoded key contains a backslash escape
}

func (e *encoder) fail(msg string) error {
	return &SyntaxError{Offset: e.pos, Msg: msg}
}

func (e *encoder) skipSpace() {
	for e.pos < len(e.in) {
		switch e.in[e.pos] {
		case ' ', '\t', '\n', '\r':
			e.pos++
		default:
			return
		}
	}
}

// value encodes the value starting at pos (no leading space).
func (e *encoder) value(depth int) error {
	if e.pos >= len(e.in) {
		return e.fail("unexpected end of input")
	}
	switch c := e.in[e.pos]; {
	case c == '{':
		if depth >= MaxDepth {
			return e.fail("nesting too deep")
		}
		return e.object(depth + 1)
	case c == '[':
		if depth >= MaxDepth {
			return e.fail("nesting too deep")
		}
		return e.array(depth + 1)
	case c == '"':
		_, err := e.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return e.number()
	case c == 't':
		return e.literal("true")
	case c == 'f':
		return e.literal("false")
	case c == 'n':
		return e.literal("null")
	default:
		return e.fail("invalid character " + quoteByte(c) + " looking for a value")
	}
}

func (e *encoder) literal(lit string) error {
	if len(e.in)-e.pos < len(lit) || string(e.in[e.pos:e.pos+len(lit)]) != lit {
		return e.fail("invalid literal")
	}
	e.pos += len(lit)
	e.out = append(e.out, lit...)
	return nil
}

func (e *encoder) array(depth int) error {
	e.pos++ // '['
	e.out = append(e.out, '[')
	e.skipSpace()
	if e.pos < len(e.in) && e.in[e.pos] == ']' {
		e.pos++
		e.out = append(e.out, ']')
		return nil
	}
	for {
		if err := e.value(depth); err != nil {
			return err
		}
		e.skipSpace()
		if e.pos >= len(e.in) {
			return e.fail("unexpected end of input in array")
		}
		switch e.in[e.pos] {
		case ',':
			e.pos++
			e.out = append(e.out, ',')
			e.skipSpace()
		case ']':
			e.pos++
			e.out = append(e.out, ']')
			return nil
		default:
			return e.fail("expected ',' or ']' in array")
		}
	}
}

func (e *encoder) object(depth int) error {
	e.pos++ // '{'
	e.out = append(e.out, '{')
	e.skipSpace()
	if e.pos < len(e.in) && e.in[e.pos] == '}' {
		e.pos++
		e.out = append(e.out, '}')
		return nil
	}
	base := len(e.members)
	bodyStart := len(e.out)
	inOrder := true
	for {
		if e.pos >= len(e.in) || e.in[e.pos] != '"' {
			return e.fail("expected string for object key")
		}
		m := member{start: len(e.out)}
		esc, err := e.str()
		if err != nil {
			return err
		}
		m.keyEnd, m.esc = len(e.out), esc
		if n := len(e.members); inOrder && n > base {
			switch c := e.compareKeys(e.members[n-1], m); {
			case c == 0 && e.strict:
				return e.fail("duplicate key")
			case c >= 0:
				inOrder = false
			}
		}
		e.skipSpace()
		if e.pos >= len(e.in) || e.in[e.pos] != ':' {
			return e.fail("expected ':' after object key")
		}
		e.pos++
		e.out = append(e.out, ':')
		e.skipSpace()
		if err := e.value(depth); err != nil {
			return err
		}
		m.end = len(e.out)
		e.members = append(e.members, m)
		e.skipSpace()
		if e.pos >= len(e.in) {
			return e.fail("unexpected end of input in object")
		}
		if e.in[e.pos] == '}' {
			e.pos++
			break
		}
		if e.in[e.pos] != ',' {
			return e.fail("expected ',' or '}' in object")
		}
		e.pos++
		e.out = append(e.out, ',')
		e.skipSpace()
	}
	if !inOrder {
		if err := e.reorder(base, bodyStart); err != nil {
			return err
		}
	}
	e.members = e.members[:base]
	e.out = append(e.out, '}')
	return nil
}

// reorder rewrites the members of the object whose body starts at
// bodyStart in key order, dropping all but the last of duplicate keys
// (Lenient mode only; Strict refuses them).
func (e *encoder) reorder(base, bodyStart int) error {
	ms := e.members[base:]
	slices.SortStableFunc(ms, func(a, b member) int { return e.compareKeys(a, b) })
	// Mark members to drop while out still holds the keys: all but the
	// last of each run of equal keys (the sort is stable).
	for i := 0; i+1 < len(ms); i++ {
		if e.compareKeys(ms[i], ms[i+1]) == 0 {
			if e.strict {
				return &SyntaxError{Offset: e.pos, Msg: "duplicate key"}
			}
			ms[i].end = -1
		}
	}
	e.scratch = append(e.scratch[:0], e.out[bodyStart:]...)
	e.out = e.out[:bodyStart]
	first := true
	for _, m := range ms {
		if m.end < 0 {
			continue
		}
		if !first {
			e.out = append(e.out, ',')
		}
		first = false
		e.out = append(e.out, e.scratch[m.start-bodyStart:m.end-bodyStart]...)
	}
	return nil
}

// compareKeys orders two written keys by the code points of their decoded
// text. UTF-8 byte order is code point order, so unescaped keys compare as
// bytes.
func (e *encoder) compareKeys(a, b member) int {
	ka := e.out[a.start+1 : a.keyEnd-1]
	kb := e.out[b.start+1 : b.keyEnd-1]
	if !a.esc && !b.esc {
		return bytes.Compare(ka, kb)
	}
	return bytes.Compare(unescapeCanonical(ka), unescapeCanonical(kb))
}

// unescapeCanonical decodes the body of a string this encoder wrote, whose
// only escapes are \" \\ \b \t \n \f \r and \u00XX.
func unescapeCanonical(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'f':
			out = append(out, '\f')
		case 'r':
			out = append(out, '\r')
		case 'u':
			if i+4 < len(s) {
				out = append(out, unhex(s[i+3])<<4|unhex(s[i+4]))
				i += 4
			}
		default: // '"' or '\\'
			out = append(out, s[i])
		}
	}
	return out
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// safe[c] is true for ASCII bytes that appear unescaped in canonical
// strings: everything from 0x20 to 0x7F except '"' and '\\'.
var safe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str encodes the string starting at pos (on its opening quote). It reports
// whether the written form contains an escape.
func (e *encoder) str() (escaped bool, err error) {
	e.pos++ // opening quote
	e.out = append(e.out, '"')
	for {
		// Copy the longest run of bytes that need no attention.
		start := e.pos
		for e.pos < len(e.in) && safe[e.in[e.pos]] {
			e.pos++
		}
		e.out = append(e.out, e.in[start:e.pos]...)
		if e.pos >= len(e.in) {
			return false, e.fail("unexpected end of input in string")
		}
		switch c := e.in[e.pos]; {
		case c == '"':
			e.pos++
			e.out = append(e.out, '"')
			return escaped, nil
		case c == '\\':
			r, err := e.escape()
			if err != nil {
				return false, err
			}
			if e.writeRune(r) {
				escaped = true
			}
		case c < 0x20:
			return false, e.fail("control character in string")
		default: // c >= 0x80
			r, size := utf8.DecodeRune(e.in[e.pos:])
			if r == utf8.RuneError && size <= 1 {
				return false, e.fail("invalid UTF-8 in string")
			}
			e.out = append(e.out, e.in[e.pos:e.pos+size]...)
			e.pos += size
		}
	}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}
