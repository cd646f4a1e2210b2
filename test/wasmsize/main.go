// Command wasmsize tells what takes the space in hearth's browser build:
// the code of every function in a GOOS=js wasm file, summed by package
// (from the wasm's name and code sections; build the file without -s so it
// keeps its name section), and the data each package's object file holds
// (from `go tool nm -size` on the packages of `go list -export`: before the
// linker drops what nothing uses, so an upper bound).
//
//	GOOS=js GOARCH=wasm go build -trimpath -o /tmp/shell.wasm ./wasm
//	go run ./test/wasmsize -wasm /tmp/shell.wasm [-pkg ./wasm] [-top 40] [-brotli]
//
// -brotli adds the brotli size of each package's code compressed alone,
// at quality 11 with a 16 MiB window, as web/build.mjs ships the file: not
// additive (the whole file compresses better), but it tells which code
// weighs in the download. The code is also summed by origin (SQLite,
// hearth, other modules, the runtime, the rest of the standard library),
// and the pclntab's pc-value tables by kind (lines, inline tree, stack
// maps). -funcs P lists the largest functions of the packages whose path
// starts with P (e.g. slices: one copy of the sorting code per element
// type).
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
)

func main() {
	wasmFile := flag.String("wasm", "", "the GOOS=js wasm file, built without -s")
	pkg := flag.String("pkg", "./wasm", "the package it was built from (for the data column)")
	top := flag.Int("top", 40, "rows to print")
	br := flag.Bool("brotli", false, "also the brotli size (quality 11, as shipped) of each printed package's code alone")
	funcs := flag.String("funcs", "", "list the largest functions of the packages whose path starts with this")
	flag.Parse()
	if err := run(*wasmFile, *pkg, *top, *br, *funcs); err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
}

type row struct {
	pkg        string
	code, data int
}

// bodies are the function bodies of each package, for -brotli; sections
// the code and data sections.
var bodies, sections = map[string][]byte{}, map[string][]byte{}

// function is one function body of the code section, for -funcs.
type function struct {
	name, pkg string
	size      int
}

var functions []function

// brotliQuality and brotliWindow are what web/build.mjs compresses the
// shipped wasm with (BROTLI_PARAM_QUALITY 11, BROTLI_PARAM_LGWIN 24).
const brotliQuality, brotliWindow = 11, 24

func brotliSize(b []byte) int {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: brotliQuality, LGWin: brotliWindow})
	w.Write(b)
	w.Close()
	return buf.Len()
}

func run(file, pkg string, top int, br bool, funcs string) error {
	bin, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	data, pkgs, err := dataByPackage(pkg)
	if err != nil {
		return err
	}
	code, dataTotal, codeTotal, err := codeByPackage(bin, pkgs)
	if err != nil {
		return err
	}
	rows := map[string]*row{}
	get := func(p string) *row {
		if rows[p] == nil {
			rows[p] = &row{pkg: p}
		}
		return rows[p]
	}
	for p, n := range code {
		get(p).code += n
	}
	for p, n := range data {
		get(p).data += n
	}
	var all []*row
	for _, r := range rows {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].code+all[i].data > all[j].code+all[j].data })
	fmt.Printf("%s: %d bytes; code section %d, data segments %d\n", file, len(bin), codeTotal, dataTotal)
	if br {
		fmt.Printf("brotli (quality %d, window 2^%d, as shipped) of the whole file %d, of the code section alone %d, of the data section alone %d\n",
			brotliQuality, brotliWindow, brotliSize(bin), brotliSize(sections["code"]), brotliSize(sections["data"]))
	}
	dataRegions(sections["data"], br)
	byOrigin(code, br)
	fmt.Println()
	fmt.Printf("%10s %10s %10s  %s\n", "code", "data(obj)", "code.br", "package")
	for i, r := range all {
		if i == top {
			break
		}
		b := "-"
		if br && r.code > 0 {
			b = strconv.Itoa(brotliSize(bodies[r.pkg]))
		}
		fmt.Printf("%10d %10d %10s  %s\n", r.code, r.data, b, r.pkg)
	}
	if funcs != "" {
		listFunctions(funcs, top)
	}
	return nil
}

// listFunctions prints the largest functions of the packages whose path
// starts with prefix, and their count and total.
func listFunctions(prefix string, top int) {
	var fs []function
	total := 0
	for _, f := range functions {
		if strings.HasPrefix(f.pkg, prefix) {
			fs = append(fs, f)
			total += f.size
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].size > fs[j].size })
	fmt.Printf("\n%d functions of %s*, %d bytes of code\n", len(fs), prefix, total)
	for i, f := range fs {
		if i == top {
			break
		}
		fmt.Printf("%10d  %s\n", f.size, f.name)
	}
}

// mangle is a package path as the wasm's name section spells it: every
// character but letters, digits, '_' and '.' becomes '_'.
func mangle(p string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, p)
}

// pkgOf is the package of a function name: the longest package whose
// mangled path, then a dot, starts it.
func pkgOf(sym string, pkgs map[string]string) string {
	best := ""
	for i := 0; i < len(sym); i++ {
		if sym[i] == '.' {
			if p, ok := pkgs[sym[:i]]; ok {
				best = p
			}
		}
	}
	if best == "" {
		return "(other: " + sym[:min(len(sym), 12)] + ")"
	}
	return best
}

// codeByPackage sums function body sizes by package.
func codeByPackage(bin []byte, pkgs map[string]string) (map[string]int, int, int, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, 0, 0, errors.New("not a wasm file")
	}
	var imported int
	var sizes []int
	var starts [][]byte
	names := map[int]string{}
	dataTotal, codeTotal := 0, 0
	r := bytes.NewReader(bin[8:])
	for r.Len() > 0 {
		id, _ := r.ReadByte()
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, 0, 0, err
		}
		body := make([]byte, size)
		if _, err := r.Read(body); err != nil {
			return nil, 0, 0, err
		}
		s := bytes.NewReader(body)
		switch id {
		case 2: // imports
			n, _ := binary.ReadUvarint(s)
			for range n {
				skipName(s)
				skipName(s)
				kind, _ := s.ReadByte()
				if kind != 0 {
					return nil, 0, 0, errors.New("non-function import")
				}
				binary.ReadUvarint(s)
				imported++
			}
		case 10: // code
			codeTotal = int(size)
			sections["code"] = body
			n, _ := binary.ReadUvarint(s)
			for range n {
				fs, _ := binary.ReadUvarint(s)
				sizes = append(sizes, int(fs))
				at := len(body) - s.Len()
				starts = append(starts, body[at:at+int(fs)])
				s.Seek(int64(fs), 1)
			}
		case 11: // data
			dataTotal = int(size)
			sections["data"] = body
		case 0: // custom
			l, _ := binary.ReadUvarint(s)
			nm := make([]byte, l)
			s.Read(nm)
			if string(nm) != "name" {
				continue
			}
			for s.Len() > 0 {
				sub, _ := s.ReadByte()
				sl, _ := binary.ReadUvarint(s)
				if sub != 1 {
					s.Seek(int64(sl), 1)
					continue
				}
				n, _ := binary.ReadUvarint(s)
				for range n {
					idx, _ := binary.ReadUvarint(s)
					names[int(idx)] = readName(s)
				}
			}
		}
	}
	if len(names) == 0 {
		return nil, 0, 0, errors.New("no name section: build without -s")
	}
	out := map[string]int{}
	for i, n := range sizes {
		p := pkgOf(names[imported+i], pkgs)
		out[p] += n
		functions = append(functions, function{names[imported+i], p, n})
		bodies[p] = append(bodies[p], starts[i]...)
	}
	return out, dataTotal, codeTotal, nil
}

func skipName(r *bytes.Reader) { readName(r) }

func readName(r *bytes.Reader) string {
	l, _ := binary.ReadUvarint(r)
	b := make([]byte, l)
	r.Read(b)
	return string(b)
}

// dataByPackage sums the data symbols of every package's object file; it
// also returns the packages by their mangled paths.
func dataByPackage(pkg string) (map[string]int, map[string]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-export", "-f", "{{if .Export}}{{.ImportPath}} {{.Export}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stderr = os.Stderr
	list, err := cmd.Output()
	if err != nil {
		return nil, nil, err
	}
	out := map[string]int{}
	pkgs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		p, file, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		pkgs[mangle(p)] = p
		// The main package comes last in -deps order; its functions are
		// named main.F.
		pkgs["main"] = p
		nm, err := exec.Command("go", "tool", "nm", "-size", file).Output()
		if err != nil {
			return nil, nil, fmt.Errorf("nm %s: %w", p, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(nm))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 || !strings.ContainsAny(f[2], "DdRr") {
				continue
			}
			if n, err := strconv.Atoi(f[1]); err == nil {
				out[p] += n
			}
		}
	}
	return out, pkgs, nil
}

// origins group packages by where their code comes from; the first
// prefix that matches names the group.
var origins = []struct{ name, prefix string }{
	{"SQLite's FTS5 (translated to Go)", "github.com/ncruces/go-sqlite3-wasm/v6/fts5"},
	{"SQLite (translated to Go)", "github.com/ncruces/go-sqlite3-wasm/"},
	{"hearth's browser host (wasm/...)", "hearth.dev/hearth/wasm"},
	{"hearth", "hearth.dev/hearth"},
	{"other modules", "github.com/"},
	{"other modules", "golang.org/x/"},
	{"Go runtime", "runtime"},
	{"Go runtime", "internal/"},
	{"Go runtime", "(other"},
}

// byOrigin prints the code by origin (SQLite, hearth, other modules, the
// runtime, the rest of the standard library) and, with br, the brotli
// size of each group's code alone.
func byOrigin(code map[string]int, br bool) {
	sum, body := map[string]int{}, map[string][]byte{}
	var names []string
	for p, n := range code {
		g := "standard library"
		for _, o := range origins {
			if strings.HasPrefix(p, o.prefix) {
				g = o.name
				break
			}
		}
		if _, ok := sum[g]; !ok {
			names = append(names, g)
		}
		sum[g] += n
		if br {
			body[g] = append(body[g], bodies[p]...)
		}
	}
	sort.Slice(names, func(i, j int) bool { return sum[names[i]] > sum[names[j]] })
	fmt.Printf("\n%10s %10s  code by origin\n", "code", "code.br")
	for _, g := range names {
		b := "-"
		if br {
			b = strconv.Itoa(brotliSize(body[g]))
		}
		fmt.Printf("%10d %10s  %s\n", sum[g], b, g)
	}
}
