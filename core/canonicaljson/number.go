package canonicaljson

import (
	"math"
	"strconv"
)

// maxSafe is 2^53-1, the largest integer Canonical JSON allows.
const maxSafe = 1<<53 - 1

// number encodes the number at pos. JSON grammar:
// -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
func (e *encoder) number() error {
	start := e.pos
	neg := e.in[e.pos] == '-'
	if neg {
		e.pos++
	}
	intStart := e.pos
	switch {
	case e.pos < len(e.in) && e.in[e.pos] == '0':
		e.pos++
	case e.pos < len(e.in) && e.in[e.pos] >= '1' && e.in[e.pos] <= '9':
		for e.pos < len(e.in) && e.in[e.pos] >= '0' && e.in[e.pos] <= '9' {
			e.pos++
		}
	default:
		return e.fail("invalid number")
	}
	intEnd := e.pos
	integer := true
	if e.pos < len(e.in) && e.in[e.pos] == '.' {
		integer = false
		e.pos++
		if !e.digits() {
			return e.fail("invalid number: no digits after '.'")
		}
	}
	if e.pos < len(e.in) && (e.in[e.pos] == 'e' || e.in[e.pos] == 'E') {
		integer = false
		e.pos++
		if e.pos < len(e.in) && (e.in[e.pos] == '+' || e.in[e.pos] == '-') {
			e.pos++
		}
		if !e.digits() {
			return e.fail("invalid number: no digits in exponent")
		}
	}
	if integer {
		digits := e.in[intStart:intEnd]
		if len(digits) == 1 && digits[0] == '0' {
			e.out = append(e.out, '0') // -0 is written as 0
			return nil
		}
		if e.strict && !inSafeRange(digits) {
			e.pos = start
			return e.fail("integer out of range [-(2^53)+1, 2^53-1]")
		}
		e.out = append(e.out, e.in[start:intEnd]...)
		return nil
	}
	if e.strict {
		e.pos = start
		return e.fail("float values are not allowed")
	}
	f, err := strconv.ParseFloat(string(e.in[start:e.pos]), 64)
	if err != nil || math.IsInf(f, 0) {
		e.pos = start
		return e.fail("number out of range")
	}
	e.out = appendFloat(e.out, f)
	return nil
}

func (e *encoder) digits() bool {
	start := e.pos
	for e.pos < len(e.in) && e.in[e.pos] >= '0' && e.in[e.pos] <= '9' {
		e.pos++
	}
	return e.pos > start
}

// inSafeRange reports whether the decimal digits (no sign, no leading
// zero) are at most 2^53-1.
func inSafeRange(digits []byte) bool {
	if len(digits) > 16 {
		return false
	}
	var n uint64
	for _, c := range digits {
		n = n*10 + uint64(c-'0')
	}
	return n <= maxSafe
}

// appendFloat writes f the way ECMAScript's Number::toString does: the
// shortest digits that read back as f, in plain notation from 1e-6 up to
// 1e21 and in exponent notation outside that. Integral values in that
// range are therefore written as integers, as the specification's example
// {"b": 1e10} -> {"b":10000000000} requires. Negative zero is written 0.
func appendFloat(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	// Go writes e-07 and e+21; ECMAScript writes e-7 and e+21.
	for i := n; i < len(dst); i++ {
		if dst[i] == 'e' {
			j := i + 2 // first exponent digit, after the sign
			k := j
			for k < len(dst)-1 && dst[k] == '0' {
				k++
			}
			dst = append(dst[:j], dst[k:]...)
			break
		}
	}
	return dst
}
