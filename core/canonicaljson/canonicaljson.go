// Package canonicaljson implements the Canonical JSON encoding of the Matrix
// specification (appendices, "Canonical JSON"): the shortest UTF-8 JSON
// encoding of a value, object keys sorted by Unicode code point, strings
// escaped only where the grammar requires it, and numbers written as
// integers.
//
// Input is re-encoded in one pass, which also validates it. In Strict mode
// (room versions 6 and later, and everything outside rooms) values that the
// canonical grammar cannot express are refused: fractions and exponents,
// integers outside [-(2^53)+1, 2^53-1], duplicate object keys, invalid UTF-8
// and lone surrogates. In Lenient mode (room versions 1 to 5, whose events
// "might not be fully compliant") numbers are kept as written and the last
// of duplicate keys wins. Every refusal wraps ErrInvalid, which the web
// layer maps to M_BAD_JSON.
//
// The appendix's example {"a": -0, "b": 1e10} -> {"a":0,"b":10000000000}
// describes the encoding of values: Marshal produces it from the decoded
// value; Strict refuses the text (1e10 is a float literal) and Lenient keeps
// 1e10 as written.
//
// Importing the package has no side effects.
package canonicaljson

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrInvalid is wrapped by every error about bad input: malformed JSON, or
// JSON that Canonical JSON cannot express in the chosen Mode.
var ErrInvalid = errors.New("invalid canonical JSON")

// Mode selects how strictly input is checked.
type Mode uint8

const (
	// Strict refuses anything outside the canonical grammar's value space:
	// floats (any number with a fraction or an exponent), integers outside
	// [-(2^53)+1, 2^53-1], duplicate keys, invalid UTF-8. "-0" is accepted
	// and written as 0.
	Strict Mode = iota
	// Lenient accepts what room versions 1 to 5 may contain: numbers of any
	// size and form are kept exactly as written (but -0 is written 0, as in
	// Strict), and the last of duplicate keys wins. Servers hashed such
	// numbers in the form they wrote them (50.0, 1e+16), so rewriting them
	// would change event IDs. Malformed JSON, invalid UTF-8 and lone
	// surrogates are still refused.
	Lenient
)

// MaxDepth is the deepest nesting of arrays and objects accepted.
const MaxDepth = 512

// Canonicalize returns the canonical encoding of the JSON text data.
func Canonicalize(data []byte, mode Mode) ([]byte, error) {
	return Append(make([]byte, 0, len(data)), data, mode)
}

// Append appends the canonical encoding of the JSON text data to dst. On
// error dst is returned unchanged in length (its spare capacity may have
// been written).
func Append(dst, data []byte, mode Mode) ([]byte, error) {
	return AppendNested(dst, data, mode, 0)
}

// AppendNested is Append for a value that sits depth levels of arrays and
// objects inside the document being written (1 for a member of the
// top-level object): MaxDepth counts from the document's top, so the
// value may nest MaxDepth - depth levels.
func AppendNested(dst, data []byte, mode Mode, depth int) ([]byte, error) {
	e := encoderPool.Get().(*encoder)
	defer e.release()
	e.in, e.pos, e.out, e.strict = data, 0, dst, mode == Strict
	n := len(dst)
	e.skipSpace()
	if err := e.value(depth); err != nil {
		return dst[:n], err
	}
	e.skipSpace()
	if e.pos != len(e.in) {
		return dst[:n], e.fail("data after top-level value")
	}
	return e.out, nil
}

var encoderPool = sync.Pool{New: func() any {
	return &encoder{members: make([]member, 0, 32)}
}}

// release returns e to the pool, dropping references to caller memory.
func (e *encoder) release() {
	e.in, e.out = nil, nil
	e.members = e.members[:0]
	if cap(e.members) > 4096 {
		e.members = make([]member, 0, 32)
	}
	if cap(e.scratch) > 64<<10 {
		e.scratch = nil
	}
	encoderPool.Put(e)
}

// Valid reports whether data is JSON that Canonical JSON can encode in mode,
// with the reason as an error wrapping ErrInvalid if not.
func Valid(data []byte, mode Mode) error {
	var buf [512]byte
	_, err := Append(buf[:0], data, mode)
	return err
}

// Marshal encodes v with encoding/json and returns its canonical encoding
// in Strict mode. A float64 holding an integer in range is written as that
// integer (encoding/json never uses an exponent for one); any other float
// is refused.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("canonicaljson: %w", err)
	}
	return Canonicalize(raw, Strict)
}

// SyntaxError describes where and why input was refused. It wraps
// ErrInvalid.
type SyntaxError struct {
	Offset int    // byte offset in the input
	Msg    string // what was wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("canonicaljson: %s at offset %d", e.Msg, e.Offset)
}

// Unwrap returns ErrInvalid.
func (e *SyntaxError) Unwrap() error { return ErrInvalid }
