package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// dataRegions splits the data section into what the Go linker put there,
// in memory order: read-only data and type descriptors before the
// pclntab, the pclntab (function names, file table, pc-value tables, the
// function table), and what follows it (data, and the findfunctab: on
// wasm a pc is a function index << 16, so the table that maps pcs to
// functions has an entry per 4 KiB of that space). It prints each
// region's size in the memory image and, with br, its brotli size alone.
func dataRegions(data []byte, br bool) {
	var mem []byte
	first := -1
	r := bytes.NewReader(data)
	n, _ := binary.ReadUvarint(r)
	for range n {
		binary.ReadUvarint(r) // flags: 0, an active segment of memory 0
		r.ReadByte()          // i32.const
		off := int(readSLEB(r))
		r.ReadByte() // end
		l, _ := binary.ReadUvarint(r)
		if first < 0 {
			first = off
		}
		if off+int(l) > len(mem) {
			mem = append(mem, make([]byte, off+int(l)-len(mem))...)
		}
		r.Read(mem[off : off+int(l)])
	}
	hdr := bytes.Index(mem, []byte{0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8})
	if hdr < 0 || first < 0 {
		fmt.Println("no pclntab header found")
		return
	}
	u := func(k int) int { return int(binary.LittleEndian.Uint64(mem[hdr+8+8*k:])) }
	nfunc, fnOff, cuOff, pcOff, plnOff := u(0), u(3), u(4), u(6), u(7)
	// The function table: nfunc+1 (entry, _func offset) pairs, then the
	// _func records (44 bytes, then 4 per pcdata and funcdata).
	ft := hdr + plnOff
	end := 0
	for k := range nfunc {
		if fo := int(binary.LittleEndian.Uint32(mem[ft+8*k+4:])); fo > end {
			end = fo
		}
	}
	last := ft + end
	end += 44 + 4*int(binary.LittleEndian.Uint32(mem[last+28:])) + 4*int(mem[last+43])
	pclnEnd := ft + end
	size := func(b []byte) string {
		if !br {
			return "-"
		}
		return fmt.Sprint(brotliSize(b))
	}
	fmt.Printf("\n%10s %10s  data region (%d functions)\n", "bytes", "brotli", nfunc)
	for _, reg := range []struct {
		name     string
		from, to int
	}{
		{"read-only data, types, itabs (before the pclntab)", first, hdr},
		{"pclntab: function names", hdr + fnOff, hdr + cuOff},
		{"pclntab: compilation units and file names", hdr + cuOff, hdr + pcOff},
		{"pclntab: pc-value tables (stack maps, lines)", hdr + pcOff, ft},
		{"pclntab: function table and records", ft, pclnEnd},
		{"after the pclntab: data, findfunctab", pclnEnd, len(mem)},
	} {
		fmt.Printf("%10d %10s  %s\n", reg.to-reg.from, size(mem[reg.from:reg.to]), reg.name)
	}
	pctabByPackage(mem, hdr, ft, nfunc, fnOff, pcOff)
	pctabByKind(mem, hdr, ft, nfunc, pcOff, size)
}

// pcKinds name the pc-value tables of a _func record: pcsp, pcfile and
// pcln, then the pcdata tables by index (internal/abi's PCDATA_*).
var pcKinds = []string{
	"pcsp (stack pointer delta)", "pcfile (file of each pc)", "pcln (line of each pc)",
	"pcdata 0 (unsafe points)", "pcdata 1 (stack map index)", "pcdata 2 (inline tree index)", "pcdata 3 (argument liveness)",
}

// pctabByKind prints how the pc-value tables divide by kind. The linker
// shares identical tables between functions; each table is counted once,
// as the kind of its first user, and runs to the next table. Only pcsp and
// the stack maps serve the program itself (stack growth, the garbage
// collector); file, line and inline tree serve tracebacks and
// runtime.Caller.
func pctabByKind(mem []byte, hdr, ft, nfunc, pcOff int, size func([]byte) string) {
	kind := map[uint32]int{}
	for k := range nfunc {
		f := ft + int(binary.LittleEndian.Uint32(mem[ft+8*k+4:]))
		le := func(o int) uint32 { return binary.LittleEndian.Uint32(mem[f+o:]) }
		offs := []uint32{le(16), le(20), le(24)}
		for i := range int(le(28)) {
			offs = append(offs, le(44+4*i))
		}
		for i, o := range offs {
			if _, seen := kind[o]; o != 0 && !seen {
				kind[o] = min(i, len(pcKinds)-1)
			}
		}
	}
	starts := make([]uint32, 0, len(kind))
	for o := range kind {
		starts = append(starts, o)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	tables := make([][]byte, len(pcKinds))
	base := hdr + pcOff
	for i, o := range starts {
		end := uint32(ft - base)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		tables[kind[o]] = append(tables[kind[o]], mem[base+int(o):base+int(end)]...)
	}
	fmt.Printf("\n%10s %10s  pc-value tables by kind\n", "bytes", "brotli")
	for i, t := range tables {
		fmt.Printf("%10d %10s  %s\n", len(t), size(t), pcKinds[i])
	}
}

// pctabByPackage prints how the pc-value tables divide between the
// largest packages: each function's tables are taken to run from its
// first table to the next function's first (the linker writes them in
// function order).
func pctabByPackage(mem []byte, hdr, ft, nfunc, fnOff, pcOff int) {
	type fn struct {
		pkg   string
		first uint32
	}
	var fns []fn
	for k := range nfunc {
		f := ft + int(binary.LittleEndian.Uint32(mem[ft+8*k+4:]))
		le := func(o int) uint32 { return binary.LittleEndian.Uint32(mem[f+o:]) }
		name := mem[hdr+fnOff+int(le(4)):]
		name = name[:bytes.IndexByte(name, 0)]
		first := uint32(0)
		offs := []uint32{le(16), le(20), le(24)}
		for i := range int(le(28)) {
			offs = append(offs, le(44+4*i))
		}
		for _, o := range offs {
			if o != 0 && (first == 0 || o < first) {
				first = o
			}
		}
		if first != 0 {
			fns = append(fns, fn{symPackage(string(name)), first})
		}
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].first < fns[j].first })
	by := map[string]int{}
	for i, f := range fns {
		end := uint32(ft - hdr - pcOff)
		if i+1 < len(fns) {
			end = fns[i+1].first
		}
		by[f.pkg] += int(end - f.first)
	}
	var pkgs []string
	for p := range by {
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return by[pkgs[i]] > by[pkgs[j]] })
	fmt.Printf("\n%10s  pc-value tables by package\n", "bytes")
	for i, p := range pkgs {
		if i == 8 {
			break
		}
		fmt.Printf("%10d  %s\n", by[p], p)
	}
}

// symPackage is the package of a Go symbol name ("a/b/c.(*T).M" -> "a/b/c").
func symPackage(sym string) string {
	slash := strings.LastIndexByte(sym, '/')
	if dot := strings.IndexByte(sym[slash+1:], '.'); dot >= 0 {
		return sym[:slash+1+dot]
	}
	return sym
}

func readSLEB(r *bytes.Reader) int64 {
	var v int64
	var shift uint
	for {
		c, err := r.ReadByte()
		if err != nil {
			return v
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}
