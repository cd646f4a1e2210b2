package relay

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"unicode/utf8"
)

// This file is the frame's CBOR (RFC 8949) codec, written for the one type
// it carries rather than through a general reflective library (which cost
// the browser build ~600 KB of wasm). The encoding is RFC 8949's core
// deterministic one: shortest heads, definite lengths, map keys ordered by
// their encoded bytes. The decoder takes any well-formed encoding of a
// frame within the limits: no tags, no indefinite lengths, no duplicate
// keys in the frame or its header, valid UTF-8 in the text it reads, at
// most maxHeaderFields elements in an array or pairs in a map, nesting at
// most maxNesting deep. Keys it does not know (integers or text) are
// skipped with their values; a known key's value must be of its field's
// kind (null and undefined leave the field empty). TestCodecDecodesAsTheLibrary
// and FuzzCodec hold it to fxamacker/cbor as the relay configured it.

// CBOR major types.
const (
	majorUint   = 0
	majorNegint = 1
	majorBytes  = 2
	majorText   = 3
	majorArray  = 4
	majorMap    = 5
	majorTag    = 6
	majorSimple = 7
)

const (
	cborFalse     = 0xf4
	cborTrue      = 0xf5
	cborNull      = 0xf6
	cborUndefined = 0xf7
	// maxNesting bounds how deep arrays and maps nest (the frame's map is
	// level 1, its header map 2, a header's values 3).
	maxNesting = 4
)

var errCBOR = errors.New("malformed CBOR")

// appendHead appends a data item's head: its major type and argument, in
// the shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendHead(b, majorNegint, uint64(-1-v))
	}
	return appendHead(b, majorUint, uint64(v))
}

func appendText(b []byte, s string) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

// appendFrame appends f's encoding: a map of the fields that are not
// empty (type always), keys ascending.
func appendFrame(b []byte, f *Frame) []byte {
	type field struct {
		key  uint64
		emit func([]byte) []byte
	}
	str := func(k uint64, s string) field {
		return field{k, func(b []byte) []byte { return appendText(b, s) }}
	}
	byts := func(k uint64, v []byte) field {
		return field{k, func(b []byte) []byte { return append(appendHead(b, majorBytes, uint64(len(v))), v...) }}
	}
	num := func(k uint64, v int64) field {
		return field{k, func(b []byte) []byte { return appendInt(b, v) }}
	}
	fields := []field{{1, func(b []byte) []byte { return appendHead(b, majorUint, uint64(f.Type)) }}}
	if f.ID != 0 {
		fields = append(fields, field{2, func(b []byte) []byte { return appendHead(b, majorUint, f.ID) }})
	}
	if f.Method != "" {
		fields = append(fields, str(3, f.Method))
	}
	if f.Target != "" {
		fields = append(fields, str(4, f.Target))
	}
	if f.Host != "" {
		fields = append(fields, str(5, f.Host))
	}
	if len(f.Header) > 0 {
		fields = append(fields, field{6, func(b []byte) []byte { return appendHeader(b, f.Header) }})
	}
	if f.Status != 0 {
		fields = append(fields, num(7, int64(f.Status)))
	}
	if len(f.Body) > 0 {
		fields = append(fields, byts(8, f.Body))
	}
	if f.More {
		fields = append(fields, field{9, func(b []byte) []byte { return append(b, cborTrue) }})
	}
	if f.Version != 0 {
		fields = append(fields, num(10, int64(f.Version)))
	}
	if len(f.Nonce) > 0 {
		fields = append(fields, byts(11, f.Nonce))
	}
	if f.Name != "" {
		fields = append(fields, str(12, f.Name))
	}
	if f.KeyID != "" {
		fields = append(fields, str(13, f.KeyID))
	}
	if len(f.Key) > 0 {
		fields = append(fields, byts(14, f.Key))
	}
	if f.Token != "" {
		fields = append(fields, str(15, f.Token))
	}
	if len(f.Sig) > 0 {
		fields = append(fields, byts(16, f.Sig))
	}
	if f.Reason != "" {
		fields = append(fields, str(17, f.Reason))
	}
	if f.Queued != 0 {
		fields = append(fields, num(18, int64(f.Queued)))
	}
	b = appendHead(b, majorMap, uint64(len(fields)))
	for _, fl := range fields {
		b = appendHead(b, majorUint, fl.key)
		b = fl.emit(b)
	}
	return b
}

// appendHeader appends a header map: names in the order of their encoded
// bytes (shorter first, then bytewise), a nil list as null.
func appendHeader(b []byte, h map[string][]string) []byte {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j])
		}
		return names[i] < names[j]
	})
	b = appendHead(b, majorMap, uint64(len(names)))
	for _, k := range names {
		b = appendText(b, k)
		vs := h[k]
		if vs == nil {
			b = append(b, cborNull)
			continue
		}
		b = appendHead(b, majorArray, uint64(len(vs)))
		for _, v := range vs {
			b = appendText(b, v)
		}
	}
	return b
}

// decoder reads data items from b.
type decoder struct {
	b []byte
	i int
}

// head reads a data item's head. Indefinite lengths, reserved additional
// information and tags are refused.
func (d *decoder) head() (major byte, n uint64, err error) {
	if d.i >= len(d.b) {
		return 0, 0, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	c := d.b[d.i]
	d.i++
	major, ai := c>>5, c&31
	if major == majorTag {
		return 0, 0, fmt.Errorf("%w: tags are not allowed", errCBOR)
	}
	switch {
	case ai < 24:
		n = uint64(ai)
	case ai <= 27:
		size := 1 << (ai - 24)
		if len(d.b)-d.i < size {
			return 0, 0, fmt.Errorf("%w: unexpected end", errCBOR)
		}
		for _, x := range d.b[d.i : d.i+size] {
			n = n<<8 | uint64(x)
		}
		d.i += size
		if major == majorSimple && ai == 24 && n < 32 {
			return 0, 0, fmt.Errorf("%w: simple value %d in two bytes", errCBOR, n)
		}
	case ai == 31:
		return 0, 0, fmt.Errorf("%w: indefinite lengths are not allowed", errCBOR)
	default:
		return 0, 0, fmt.Errorf("%w: reserved additional information %d", errCBOR, ai)
	}
	return major, n, nil
}

// content reads n bytes of a string's content.
func (d *decoder) content(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.i) {
		return nil, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	s := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return s, nil
}

// count checks an array's or map's length against the limit.
func count(n uint64, what string) error {
	if n > maxHeaderFields {
		return fmt.Errorf("%w: %s of %d is over %d", errCBOR, what, n, maxHeaderFields)
	}
	return nil
}

// skip reads one well-formed data item of any kind at nesting level depth
// and returns its encoding. What it holds is not looked into further.
func (d *decoder) skip(depth int) ([]byte, error) {
	start := d.i
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case majorBytes:
		_, err = d.content(n)
	case majorText:
		_, err = d.content(n)
	case majorArray, majorMap:
		if depth > maxNesting {
			return nil, fmt.Errorf("%w: nested over %d levels", errCBOR, maxNesting)
		}
		if major == majorArray {
			err = count(n, "array")
		} else {
			err = count(n, "map")
		}
		if err != nil {
			return nil, err
		}
		for i := uint64(0); i < n && err == nil; i++ {
			if _, err = d.skip(depth + 1); err == nil && major == majorMap {
				_, err = d.skip(depth + 1)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return d.b[start:d.i], nil
}

// empty reports whether the next item is null or undefined, and reads it
// if so.
func (d *decoder) empty() bool {
	if d.i < len(d.b) && (d.b[d.i] == cborNull || d.b[d.i] == cborUndefined) {
		d.i++
		return true
	}
	return false
}

// simple reports whether the item at is a simple value other than false,
// true, null and undefined (fxamacker/cbor reads those as integers).
func (d *decoder) simple(at int, major byte, n uint64) bool {
	return major == majorSimple && d.b[at]&31 <= 24 && (n < 20 || n > 23)
}

func (d *decoder) uint(max uint64) (uint64, error) {
	at := d.i
	major, n, err := d.head()
	if err != nil {
		return 0, err
	}
	if (major != majorUint && !d.simple(at, major, n)) || n > max {
		return 0, fmt.Errorf("%w: want an unsigned integer up to %d", errCBOR, max)
	}
	return n, nil
}

func (d *decoder) int() (int, error) {
	at := d.i
	major, n, err := d.head()
	if err != nil {
		return 0, err
	}
	switch {
	case (major == majorUint || d.simple(at, major, n)) && n <= math.MaxInt:
		return int(n), nil
	case major == majorNegint && n <= math.MaxInt:
		return -1 - int(n), nil
	}
	return 0, fmt.Errorf("%w: want an integer", errCBOR)
}

func (d *decoder) text() (string, error) {
	major, n, err := d.head()
	if err != nil {
		return "", err
	}
	if major != majorText {
		return "", fmt.Errorf("%w: want a text string", errCBOR)
	}
	s, err := d.content(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(s) {
		return "", fmt.Errorf("%w: text is not UTF-8", errCBOR)
	}
	return string(s), nil
}

func (d *decoder) bytes() ([]byte, error) {
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major == majorArray {
		// As fxamacker/cbor: an array of integers 0-255 is bytes too.
		if err := count(n, "array"); err != nil {
			return nil, err
		}
		s := make([]byte, 0, n)
		for range n {
			c, err := d.uint(math.MaxUint8)
			if err != nil {
				return nil, err
			}
			s = append(s, byte(c))
		}
		return s, nil
	}
	if major != majorBytes {
		return nil, fmt.Errorf("%w: want a byte string", errCBOR)
	}
	s, err := d.content(n)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s), nil
}

func (d *decoder) bool() (bool, error) {
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case cborTrue:
			d.i++
			return true, nil
		case cborFalse:
			d.i++
			return false, nil
		}
	}
	return false, fmt.Errorf("%w: want a boolean", errCBOR)
}

// header reads a header map (nesting level 2).
func (d *decoder) header() (map[string][]string, error) {
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majorMap {
		return nil, fmt.Errorf("%w: header: want a map", errCBOR)
	}
	if err := count(n, "map"); err != nil {
		return nil, err
	}
	h := make(map[string][]string, n)
	for range n {
		k, err := d.text()
		if err != nil {
			return nil, fmt.Errorf("header name: %w", err)
		}
		if _, dup := h[k]; dup {
			return nil, fmt.Errorf("%w: duplicate map key", errCBOR)
		}
		if d.empty() {
			h[k] = nil
			continue
		}
		major, m, err := d.head()
		if err != nil {
			return nil, err
		}
		if major != majorArray {
			return nil, fmt.Errorf("%w: header %q: want an array", errCBOR, k)
		}
		if err := count(m, "array"); err != nil {
			return nil, err
		}
		vs := make([]string, 0, m)
		for range m {
			v, err := d.text()
			if err != nil {
				return nil, fmt.Errorf("header %q: %w", k, err)
			}
			vs = append(vs, v)
		}
		h[k] = vs
	}
	return h, nil
}

// decodeFrame reads one frame: a map holding nothing after it.
func decodeFrame(b []byte) (*Frame, error) {
	d := &decoder{b: b}
	if len(b) == 1 && (b[0] == cborNull || b[0] == cborUndefined) {
		return &Frame{}, nil // no frame, which Validate refuses
	}
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majorMap {
		return nil, fmt.Errorf("%w: a frame is a map", errCBOR)
	}
	if err := count(n, "map"); err != nil {
		return nil, err
	}
	var f Frame
	var seen [19]bool
	var unknown [][]byte
	for range n {
		// Known keys are unsigned integers 1-18 in any well-formed
		// encoding; every other key is skipped with its value.
		at := d.i
		if major, k, err := d.head(); err == nil && major == majorUint && k >= 1 && k <= 18 {
			if seen[k] {
				return nil, fmt.Errorf("%w: duplicate map key", errCBOR)
			}
			seen[k] = true
			if err := d.field(&f, k); err != nil {
				return nil, fmt.Errorf("key %d: %w", k, err)
			}
			continue
		}
		d.i = at
		k, err := d.skip(2)
		if err != nil {
			return nil, err
		}
		switch kd := (&decoder{b: k}); k[0] >> 5 {
		case majorUint, majorNegint:
			// An integer key counts by its value, whatever its encoding,
			// and fits an int64.
			major, v, _ := kd.head()
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("%w: map key over 64 bits", errCBOR)
			}
			k = appendHead(nil, major, v)
		case majorText:
			if _, err := kd.text(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: a map key is an integer or a text string", errCBOR)
		}
		if slices.ContainsFunc(unknown, func(o []byte) bool { return string(o) == string(k) }) {
			return nil, fmt.Errorf("%w: duplicate map key", errCBOR)
		}
		unknown = append(unknown, k)
		if _, err := d.skip(2); err != nil {
			return nil, err
		}
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the frame", errCBOR, len(b)-d.i)
	}
	return &f, nil
}

// field reads key k's value into f.
func (d *decoder) field(f *Frame, k uint64) error {
	if d.empty() {
		return nil
	}
	var err error
	switch k {
	case 1:
		var t uint64
		t, err = d.uint(math.MaxUint8)
		f.Type = Type(t)
	case 2:
		f.ID, err = d.uint(math.MaxUint64)
	case 3:
		f.Method, err = d.text()
	case 4:
		f.Target, err = d.text()
	case 5:
		f.Host, err = d.text()
	case 6:
		f.Header, err = d.header()
	case 7:
		f.Status, err = d.int()
	case 8:
		f.Body, err = d.bytes()
	case 9:
		f.More, err = d.bool()
	case 10:
		f.Version, err = d.int()
	case 11:
		f.Nonce, err = d.bytes()
	case 12:
		f.Name, err = d.text()
	case 13:
		f.KeyID, err = d.text()
	case 14:
		f.Key, err = d.bytes()
	case 15:
		f.Token, err = d.text()
	case 16:
		f.Sig, err = d.bytes()
	case 17:
		f.Reason, err = d.text()
	case 18:
		f.Queued, err = d.int()
	}
	return err
}
