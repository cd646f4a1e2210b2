package modules

import (
	"errors"
	"fmt"
)

// This file reads the few sections of a WebAssembly binary the host needs
// before it hands the module to an engine that does not describe it
// (the browser's: WebAssembly.Module.exports gives no signatures): the
// types, imports, functions, memories and exports, and rewrites the
// memory's maximum to the module's cap. The engine validates the rest.

// Section ids of the binary format.
const (
	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secExport   = 7
)

// limits are a memory's limits in 64 KiB pages.
type limits struct {
	min, max uint32
	hasMax   bool
}

// wasmBinary is what parseWasm read of a module.
type wasmBinary struct {
	info codeInfo
	// memories are the memories the module defines.
	memories []limits
	// memSection is the memory section's extent in the binary (header
	// included); end 0 when there is none.
	memStart, memEnd int
}

var errTruncated = errors.New("unexpected end")

// wasmReader reads the binary format's primitive values.
type wasmReader struct {
	b   []byte
	off int
	err error
}

func (r *wasmReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *wasmReader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift == 28 && c > 0x0f {
			r.fail(errors.New("integer too large"))
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("integer too long"))
	return 0
}

func (r *wasmReader) bytes(n uint32) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(errTruncated)
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *wasmReader) name() string { return string(r.bytes(r.u32())) }

// count reads a vector's length, bounded by the bytes left (every element
// takes at least one byte).
func (r *wasmReader) count() uint32 {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(errTruncated)
		return 0
	}
	return n
}

func (r *wasmReader) limits() limits {
	var l limits
	switch flag := r.byte(); flag {
	case 0, 2:
		l.min = r.u32()
	case 1, 3:
		l.min, l.max, l.hasMax = r.u32(), r.u32(), true
	default:
		r.fail(fmt.Errorf("limits flag %#x not supported", flag))
	}
	return l
}

func (r *wasmReader) valTypes() []valType {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]valType, 0, n)
	for range n {
		out = append(out, r.byte())
	}
	return out
}

// parseWasm reads bin's types, imports, functions, memories and exports.
func parseWasm(bin []byte) (*wasmBinary, error) {
	r := &wasmReader{b: bin}
	if string(r.bytes(4)) != "\x00asm" {
		return nil, errors.New("no WebAssembly magic number")
	}
	if v := r.bytes(4); r.err == nil && string(v) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("binary format version %x, not 1", v)
	}
	w := &wasmBinary{info: codeInfo{funcs: map[string]funcType{}, memories: map[string]bool{}}}
	var types []funcType
	var funcs []uint32 // type index of every function, imported ones first
	type export struct {
		name  string
		kind  byte
		index uint32
	}
	var exports []export
	for r.err == nil && r.off < len(bin) {
		start := r.off
		id := r.byte()
		size := r.u32()
		body := r.bytes(size)
		if r.err != nil {
			break
		}
		s := &wasmReader{b: body}
		switch id {
		case secType:
			for range s.count() {
				if form := s.byte(); form != 0x60 && s.err == nil {
					return nil, fmt.Errorf("type form %#x not supported", form)
				}
				types = append(types, funcType{params: s.valTypes(), results: s.valTypes()})
			}
		case secImport:
			for range s.count() {
				im := wasmImport{module: s.name(), name: s.name(), kind: s.byte()}
				switch im.kind {
				case kindFunc:
					funcs = append(funcs, s.u32())
				case kindTable:
					s.byte()
					s.limits()
				case kindMemory:
					s.limits()
				case kindGlobal:
					s.byte()
					s.byte()
				case kindTag:
					s.byte()
					s.u32()
				default:
					s.fail(fmt.Errorf("import kind %#x not supported", im.kind))
				}
				w.info.imports = append(w.info.imports, im)
			}
		case secFunction:
			for range s.count() {
				funcs = append(funcs, s.u32())
			}
		case secMemory:
			for range s.count() {
				w.memories = append(w.memories, s.limits())
			}
			w.memStart, w.memEnd = start, r.off
		case secExport:
			for range s.count() {
				exports = append(exports, export{name: s.name(), kind: s.byte(), index: s.u32()})
			}
		}
		if s.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, s.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, e := range exports {
		switch e.kind {
		case kindFunc:
			if e.index >= uint32(len(funcs)) || funcs[e.index] >= uint32(len(types)) {
				return nil, fmt.Errorf("export %q: no function %d", e.name, e.index)
			}
			w.info.funcs[e.name] = types[funcs[e.index]]
		case kindMemory:
			w.info.memories[e.name] = true
		}
	}
	return w, nil
}

// capMemory returns bin with the maximum of every memory it defines set to
// at most pages (a module's own maximum, when lower, stays). A module
// whose minimum is over pages is refused.
func capMemory(bin []byte, w *wasmBinary, pages uint32) ([]byte, error) {
	if w.memEnd == 0 {
		return bin, nil
	}
	body := appendU32(nil, uint32(len(w.memories)))
	for _, l := range w.memories {
		if l.min > pages {
			return nil, fmt.Errorf("needs %d pages of memory, over its cap of %d", l.min, pages)
		}
		max := pages
		if l.hasMax && l.max < max {
			max = l.max
		}
		body = append(body, 1)
		body = appendU32(body, l.min)
		body = appendU32(body, max)
	}
	out := make([]byte, 0, len(bin)+16)
	out = append(out, bin[:w.memStart]...)
	out = append(out, secMemory)
	out = appendU32(out, uint32(len(body)))
	out = append(out, body...)
	return append(out, bin[w.memEnd:]...), nil
}

// appendU32 appends v as an unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
