package idb_test

import (
	"testing"

	"hearth.dev/hearth/test/browser/vfstest"
	"hearth.dev/hearth/wasm/idb"
)

func TestSupported(t *testing.T) {
	if !idb.Supported() {
		t.Fatal("Supported() = false: indexedDB is missing")
	}
}

func TestVFS(t *testing.T) {
	vfstest.Run(t, idb.Name)
}

func TestPhase(t *testing.T) {
	vfstest.Phase(t, idb.Name)
}

func BenchmarkInsert(b *testing.B) {
	vfstest.BenchmarkInsert(b, idb.Name)
}
