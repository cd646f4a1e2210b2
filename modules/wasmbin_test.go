//go:build !js

package modules

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/tetratelabs/wazero"

	"hearth.dev/hearth/modules/moduletest"
)

// TestParseWasmAgreesWithWazero: what parseWasm reads of real modules is
// what wazero reads of them, and capMemory's output is a valid module
// whose memory has the cap as its maximum.
func TestParseWasmAgreesWithWazero(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, pkg := range []string{keywordFilter, loopModule, stateReader, noCallbacks} {
		bin, err := os.ReadFile(moduletest.Build(t, pkg))
		if err != nil {
			t.Fatal(err)
		}
		w, err := parseWasm(bin)
		if err != nil {
			t.Fatalf("parseWasm(%s): %v", pkg, err)
		}
		c, err := rt.CompileModule(ctx, bin)
		if err != nil {
			t.Fatal(err)
		}
		want := wazeroInfo(c)
		if !reflect.DeepEqual(w.info.funcs, want.funcs) || !reflect.DeepEqual(w.info.memories, want.memories) ||
			!reflect.DeepEqual(w.info.imports, want.imports) {
			t.Fatalf("parseWasm(%s) = %+v\nwazero reads %+v", pkg, w.info, want)
		}
		if len(w.memories) != 1 || w.memories[0].hasMax {
			t.Fatalf("parseWasm(%s) memories = %+v, want one without a maximum", pkg, w.memories)
		}
		capped, err := capMemory(bin, w, 300)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := rt.CompileModule(ctx, capped)
		if err != nil {
			t.Fatalf("capped %s does not compile: %v", pkg, err)
		}
		for _, m := range c2.ExportedMemories() {
			if max, ok := m.Max(); !ok || max != 300 || m.Min() != w.memories[0].min {
				t.Fatalf("capped %s memory: min %d max %d %v, want min %d max 300", pkg, m.Min(), max, ok, w.memories[0].min)
			}
		}
		if _, err := capMemory(bin, w, w.memories[0].min-1); err == nil {
			t.Fatalf("capMemory under the module's minimum succeeded")
		}
	}
}

// FuzzParseWasm: parseWasm never panics, and what capMemory writes parses
// again to the same imports and exports, with every memory capped.
func FuzzParseWasm(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00\x05\x03\x01\x00\x02\x07\x0a\x02\x01m\x02\x00\x01f\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x0b\x01\x03env\x01x\x02\x01\x01\x02"))
	f.Fuzz(func(t *testing.T, bin []byte) {
		w, err := parseWasm(bin)
		if err != nil {
			return
		}
		capped, err := capMemory(bin, w, 70)
		if err != nil {
			return
		}
		w2, err := parseWasm(capped)
		if err != nil {
			t.Fatalf("capMemory's output does not parse: %v", err)
		}
		if !reflect.DeepEqual(w.info, w2.info) || len(w2.memories) != len(w.memories) {
			t.Fatalf("capMemory changed the module: %+v -> %+v", w.info, w2.info)
		}
		for _, l := range w2.memories {
			if !l.hasMax || l.max > 70 {
				t.Fatalf("memory %+v is not capped at 70", l)
			}
		}
	})
}
