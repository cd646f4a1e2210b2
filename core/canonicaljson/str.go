package canonicaljson

import (
	"unicode/utf16"
	"unicode/utf8"
)

// escape decodes the escape sequence at pos (on its backslash), joining a
// UTF-16 surrogate pair into one rune. A lone surrogate is refused: it has
// no UTF-8 encoding.
func (e *encoder) escape() (rune, error) {
	if e.pos+1 >= len(e.in) {
		return 0, e.fail("unexpected end of input in escape")
	}
	c := e.in[e.pos+1]
	e.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := hex4(e.in, e.pos)
		if !ok {
			return 0, e.fail("invalid \\u escape")
		}
		e.pos += 4
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if r >= 0xDC00 || e.pos+6 > len(e.in) || e.in[e.pos] != '\\' || e.in[e.pos+1] != 'u' {
			return 0, e.fail("lone surrogate in \\u escape")
		}
		r2, ok := hex4(e.in, e.pos+2)
		if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
			return 0, e.fail("lone surrogate in \\u escape")
		}
		e.pos += 6
		return utf16.DecodeRune(r, r2), nil
	}
	e.pos -= 1
	return 0, e.fail("invalid escape")
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// writeRune appends r as canonical string text and reports whether it was
// written as an escape. The grammar escapes '"', '\\' and the C0 controls,
// the latter as \b \t \n \f \r where those exist and \u00XX (lower-case
// hex) otherwise; everything else is raw UTF-8.
func (e *encoder) writeRune(r rune) bool {
	e.out = appendRune(e.out, r)
	return r < 0x20 || r == '"' || r == '\\'
}

func appendRune(dst []byte, r rune) []byte {
	switch {
	case r == '"':
		return append(dst, '\\', '"')
	case r == '\\':
		return append(dst, '\\', '\\')
	case r >= 0x20:
		return utf8.AppendRune(dst, r)
	}
	switch r {
	case '\b':
		return append(dst, '\\', 'b')
	case '\t':
		return append(dst, '\\', 't')
	case '\n':
		return append(dst, '\\', 'n')
	case '\f':
		return append(dst, '\\', 'f')
	case '\r':
		return append(dst, '\\', 'r')
	}
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
}

// AppendString appends s to dst as a canonical JSON string. Invalid UTF-8
// in s is written as U+FFFD, so the result is always valid.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			start := i
			for i < len(s) && s[i] < utf8.RuneSelf && safe[s[i]] {
				i++
			}
			dst = append(dst, s[start:i]...)
			if i < len(s) && s[i] < utf8.RuneSelf {
				dst = appendRune(dst, rune(s[i]))
				i++
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, r) // RuneError for invalid bytes
		i += size
	}
	return append(dst, '"')
}
