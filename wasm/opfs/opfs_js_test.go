package opfs_test

import (
	"testing"

	"hearth.dev/hearth/test/browser/vfstest"
	"hearth.dev/hearth/wasm/opfs"
)

func TestSupported(t *testing.T) {
	if !opfs.Supported() {
		t.Fatal("Supported() = false: OPFS sync access handles need a dedicated worker (run through test/browser/run-go-test.mjs)")
	}
}

func TestVFS(t *testing.T) {
	vfstest.Run(t, opfs.Name)
}

func TestPhase(t *testing.T) {
	vfstest.Phase(t, opfs.Name)
}

func BenchmarkInsert(b *testing.B) {
	vfstest.BenchmarkInsert(b, opfs.Name)
}
