package canonicaljson

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
		e.out = append(e.out, e.in[start:intEnd]...) // digits of any length in Lenient
		return nil
	}
	if e.strict {
		e.pos = start
		return e.fail("float values are not allowed")
	}
	// Lenient: the number as written, which is what the sender hashed.
	e.out = append(e.out, e.in[start:e.pos]...)
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
