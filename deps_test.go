package hearth

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection checks DESIGN.md's rule: cmd, wasm → web, federation →
// core ← storage. core imports nothing of ours outside core and no
// net/http, database/sql or syscall/js; web and federation never import
// storage nor each other.
func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	rules := []importRule{
		{"./core/...", []string{"net/http", "database/sql", "syscall/js",
			"hearth.dev/hearth/storage", "hearth.dev/hearth/web", "hearth.dev/hearth/federation", "hearth.dev/hearth/wasm"}},
		{"./web/...", []string{"hearth.dev/hearth/storage", "hearth.dev/hearth/federation", "database/sql"}},
		{"./federation/...", []string{"hearth.dev/hearth/storage", "hearth.dev/hearth/web", "database/sql"}},
		{"./matrixhttp/...", []string{"hearth.dev/hearth/storage", "hearth.dev/hearth/web", "hearth.dev/hearth/federation", "database/sql"}},
		{"./storage/...", []string{"hearth.dev/hearth/web", "hearth.dev/hearth/federation", "net/http"}},
		// The relay carries bytes: it reaches no homeserver's storage or
		// surfaces, and the node's client builds for the browser.
		{"./relay/...", []string{"hearth.dev/hearth/storage", "hearth.dev/hearth/web", "hearth.dev/hearth/federation", "hearth.dev/hearth/wasm"}},
		// The service graph is shared by the surfaces' tests: it must not
		// import them.
		{"./services/...", []string{"hearth.dev/hearth/web", "hearth.dev/hearth/federation"}},
		{"./internal/hearthtest/...", []string{"hearth.dev/hearth/web", "hearth.dev/hearth/federation"}},
	}
	checkImports(t, `{{.ImportPath}}: {{join .Deps " "}}`, rules)
	// An embedding app uses only the root package's API: its own imports
	// (not those below hearth) name nothing else of ours.
	checkImports(t, `{{.ImportPath}}: {{join .Imports " "}}`, []importRule{
		{"./examples/...", []string{"hearth.dev/hearth/storage", "hearth.dev/hearth/services", "hearth.dev/hearth/web",
			"hearth.dev/hearth/federation", "hearth.dev/hearth/core", "database/sql"}},
	})
}

// importRule forbids packages (and their subpackages) to pkgs.
type importRule struct {
	pkgs      string
	forbidden []string
}

// checkImports lists each rule's packages with format (a package, then the
// imports to check) and reports every forbidden import.
func checkImports(t *testing.T, format string, rules []importRule) {
	t.Helper()
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-e", "-f", format, r.pkgs).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") {
				continue
			}
			t.Fatalf("go list %s: %v\n%s", r.pkgs, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, deps, _ := strings.Cut(line, ": ")
			for _, d := range strings.Fields(deps) {
				for _, f := range r.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s imports %s", pkg, d)
					}
				}
			}
		}
	}
}
