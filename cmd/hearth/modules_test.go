package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleFlagAndEnv: --module (repeatable) adds to HEARTH_MODULES.
func TestModuleFlagAndEnv(t *testing.T) {
	t.Setenv("HEARTH_MODULES", "/srv/env.wasm")
	fs := newFlagSet()
	load := configFlags(fs)
	if err := fs.Parse([]string{"--module", "/srv/a.wasm", "--module", "/srv/b.wasm"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.ModulePaths.Paths(), ","); got != "/srv/env.wasm,/srv/a.wasm,/srv/b.wasm" {
		t.Fatalf("module paths = %s", got)
	}
}

// TestServeRefusesBadModule: `hearth serve --module` of a file that is not
// a module stops with one line naming it.
func TestServeRefusesBadModule(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm but not really"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error", "--module", bad)
	if err == nil {
		t.Fatalf("serve with a bad module started:\n%s", out)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "module "+bad+": not a valid WebAssembly module") {
		t.Fatalf("serve error = %q, want one line naming %s", msg, bad)
	}
}
