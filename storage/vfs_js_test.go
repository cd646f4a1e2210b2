package storage

// Under js/wasm the browser VFSes are linked in, so the suite can run on
// them inside a Chromium worker (test/browser) with HEARTH_TEST_VFS=opfs or
// HEARTH_TEST_VFS=idb. Under Node (no HEARTH_TEST_VFS) it runs on real files.
import (
	_ "hearth.dev/hearth/wasm/idb"
	_ "hearth.dev/hearth/wasm/opfs"
)
