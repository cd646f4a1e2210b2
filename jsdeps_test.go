package hearth

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBrowserBuildDeps keeps native-only code out of the browser build
// (GOOS=js ./wasm), whose size every visitor downloads: URL previews and
// their HTML parser (a tab cannot fetch other sites), the embedded shell's
// brotli decoder, the relay's NATS cluster, wazero (the tab runs modules
// on the browser's own WebAssembly engine, modules/browser_js.go) and the
// YAML parser (the tab reads no configuration files: config_default.go).
func TestBrowserBuildDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	cmd := exec.Command("go", "list", "-deps", "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("GOOS=js go list -deps ./wasm: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "hearth.dev/hearth") {
		t.Fatalf("GOOS=js go list -deps ./wasm lists %d packages without hearth.dev/hearth:\n%s", len(deps), out)
	}
	forbidden := []string{
		"hearth.dev/hearth/urlpreview", "golang.org/x/net/html",
		"github.com/andybalholm/brotli",
		"github.com/nats-io",
		"github.com/tetratelabs/wazero",
		"gopkg.in/yaml.v3",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the browser build (./wasm) imports %s", d)
			}
		}
	}
}
