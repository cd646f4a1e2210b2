// Package moduletest builds hearth modules written in Go for tests and
// benchmarks: the examples under examples/modules and the test modules
// under modules/testdata, with the standard toolchain (GOOS=wasip1
// GOARCH=wasm -buildmode=c-shared), once per process.
//
// Importing the package has no side effects.
package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Build builds the module package pkg (an import path in hearth's module,
// like "hearth.dev/hearth/examples/modules/keyword-filter") and returns the
// .wasm file's path, in a temporary directory of the process's own (the
// go command's build cache makes later processes' builds quick).
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		tb.Skip("building modules needs the go command")
	}
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "hearth-modules-")
		if err != nil {
			tb.Fatal(err)
		}
		dir = d
	}
	// The file is named after the package's last element, which names
	// the module.
	sub := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_"))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(sub, pkg[strings.LastIndex(pkg, "/")+1:]+".wasm")
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	cmd := exec.Command(goCmd, "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building module %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}
