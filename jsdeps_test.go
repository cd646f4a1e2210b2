package hearth

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBrowserBuildDeps keeps native-only code out of the browser build
// (GOOS=js ./wasm), whose size every visitor downloads: URL previews and
// their HTML parser (a tab cannot fetch other sites), the embedded shell's
// brotli decoder, the relay's NATS cluster, wazero (the tab runs modules
// on the browser's own WebAssembly engine, modules/browser_js.go), the
// YAML parser (the tab reads no configuration files: config_default.go)
// Go's image decoders and encoders (the tab's thumbnails are made by the
// browser, core/thumbnail/render_js.go and wasm/thumbnail_js.go) and the
// regexp engine (push rules' globs have a matcher of their own,
// core/push/glob.go; application service namespaces are compiled natively
// only, core/appservice/regexp_other.go).
// Some packages are imported by net/http and cannot leave the import list;
// for them the linked code is checked (browserLinked): net/http's
// Transport and Client, with crypto/tls's handshakes and crypto/x509's
// chain checks (the tab's outbound requests use the browser's fetch,
// internal/httpout, and its relay the browser's WebSocket). The metrics
// registry is built only for `hearth serve`'s listener (metrics_wiring_js.go):
// its package stays imported for the Homeserver's field type, its code not.
// A tab has no application services (it reads no registration files), so
// their delivery code is left out (appservice/delivery_js.go).
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
		"image/png", "image/jpeg", "image/gif", "image/draw", "golang.org/x/image",
		"regexp",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the browser build (./wasm) imports %s", d)
			}
		}
	}
	linked := browserLinked(t)
	for _, f := range []string{
		"net/http.(*Transport).roundTrip", "net/http.(*Transport).dialConn", "net/http.(*Client).do",
		"crypto/tls.(*Conn).clientHandshake", "crypto/tls.(*Conn).serverHandshake",
		"crypto/x509.(*Certificate).Verify", "crypto/x509.ParseCertificate",
		"hearth.dev/hearth/metrics.New", "hearth.dev/hearth/metrics.(*Registry).observe",
		"hearth.dev/hearth/appservice.(*Sender).deliver", "hearth.dev/hearth/appservice.(*Sender).put",
	} {
		if why, ok := linked[f]; ok {
			t.Errorf("the browser build (./wasm) links %s (reached from %s)", f, why)
		}
	}
	// web's route wrappers are not inlined (web/auth.go): inlined, every
	// route registration got its own copy of the closure they return.
	for _, w := range []string{"public", "(*Server).authed", "(*Server).admin"} {
		var copies []string
		for sym := range linked {
			if strings.HasPrefix(sym, "hearth.dev/hearth/web.") && strings.HasSuffix(sym, "."+w+".func1") {
				copies = append(copies, sym)
			}
		}
		if len(copies) > 1 {
			slices.Sort(copies)
			t.Errorf("the browser build (./wasm) has %d copies of web's %s closure (inlined at each route): %.300s", len(copies), w, strings.Join(copies, " "))
		}
	}
}

// browserLinked links ./wasm for the browser and returns the functions
// and data the linker kept, each with one symbol that reached it (the
// linker's -dumpdep list: "from -> to").
func browserLinked(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "shell.wasm"), "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("GOOS=js go build -ldflags=-dumpdep ./wasm: %v\n%.2000s", err, stderr.String())
	}
	linked := map[string]string{}
	for line := range strings.Lines(stderr.String()) {
		from, to, ok := strings.Cut(strings.TrimSpace(line), " -> ")
		if !ok {
			continue
		}
		to, _, _ = strings.Cut(to, " <")
		if _, seen := linked[to]; !seen {
			linked[to] = from
		}
	}
	if _, ok := linked["main.main"]; !ok || len(linked) < 1000 {
		t.Fatalf("the linker's -dumpdep list of ./wasm has %d symbols and no main.main:\n%.2000s", len(linked), stderr.String())
	}
	return linked
}
