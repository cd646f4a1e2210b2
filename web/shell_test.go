//go:build !js

package web

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"hearth.dev/hearth/core/clientapi"
)

const testWasm = "hearth-0123456789abcdef.wasm"

// builtShell is a web/dist as build.mjs leaves it, with the forms told
// apart by their contents.
func builtShell() fstest.MapFS {
	files := map[string]string{
		"README.md":                "readme",
		"index.html":               "<!doctype html>index",
		"index.html.br":            "index-br",
		"index.html.gz":            "index-gz",
		"hearth.js":                "export class Hearth {}",
		"hearth.js.gz":             "hearth-js-gz",
		"hearth-sw.js":             "sw",
		testWasm:                   "\x00asm-identity",
		testWasm + ".br":           "wasm-br",
		testWasm + ".gz":           "wasm-gz",
		"app-fedcba9876543210.css": "body{}",
	}
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func shellServer(fsys fs.FS) *Server {
	s := &Server{opts: Options{Services: clientapi.Services{Settings: clientapi.Settings{Now: time.Now}}}, mux: http.NewServeMux()}
	s.registerBasicRoutes()
	s.mountShell(fsys)
	return s
}

func TestShellServesFiles(t *testing.T) {
	s := shellServer(builtShell())
	tests := []struct {
		name, method, path, accept string
		wantStatus                 int
		wantBody, wantType         string
		wantEncoding, wantCache    string
	}{
		{"index brotli", "GET", "/", "gzip, deflate, br", 200, "index-br", "text/html; charset=utf-8", "br", "no-cache"},
		{"index by name gzip", "GET", "/index.html", "gzip", 200, "index-gz", "text/html; charset=utf-8", "gzip", "no-cache"},
		{"index identity", "GET", "/", "", 200, "<!doctype html>index", "text/html; charset=utf-8", "", "no-cache"},
		{"wasm brotli", "GET", "/" + testWasm, "br", 200, "wasm-br", "application/wasm", "br", "public, max-age=31536000, immutable"},
		{"wasm brotli refused", "GET", "/" + testWasm, "br;q=0, gzip;q=0.5", 200, "wasm-gz", "application/wasm", "gzip", "public, max-age=31536000, immutable"},
		{"wasm star", "GET", "/" + testWasm, "*", 200, "wasm-br", "application/wasm", "br", "public, max-age=31536000, immutable"},
		{"wasm identity", "GET", "/" + testWasm, "identity", 200, "\x00asm-identity", "application/wasm", "", "public, max-age=31536000, immutable"},
		{"js without brotli form", "GET", "/hearth.js", "br", 200, "export class Hearth {}", "text/javascript; charset=utf-8", "", "no-cache"},
		{"js gzip", "GET", "/hearth.js", "br, gzip", 200, "hearth-js-gz", "text/javascript; charset=utf-8", "gzip", "no-cache"},
		{"service worker", "GET", "/hearth-sw.js", "gzip", 200, "sw", "text/javascript; charset=utf-8", "", "no-cache"},
		{"hashed css", "GET", "/app-fedcba9876543210.css", "", 200, "body{}", "text/css; charset=utf-8", "", "public, max-age=31536000, immutable"},
		{"head", "HEAD", "/hearth.js", "", 200, "", "text/javascript; charset=utf-8", "", "no-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.accept != "" {
				r.Header.Set("Accept-Encoding", tt.accept)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			res := w.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: status %d, want %d (%s)", tt.method, tt.path, res.StatusCode, tt.wantStatus, body)
			}
			if string(body) != tt.wantBody {
				t.Errorf("%s %s: body %q, want %q", tt.method, tt.path, body, tt.wantBody)
			}
			for _, h := range []struct{ key, want string }{
				{"Content-Type", tt.wantType},
				{"Content-Encoding", tt.wantEncoding},
				{"Cache-Control", tt.wantCache},
			} {
				if got := res.Header.Get(h.key); got != h.want {
					t.Errorf("%s %s: %s %q, want %q", tt.method, tt.path, h.key, got, h.want)
				}
			}
			if tt.method == "HEAD" && res.Header.Get("Content-Length") != "22" {
				t.Errorf("HEAD: Content-Length %q, want 22", res.Header.Get("Content-Length"))
			}
			if tt.method == "GET" && res.Header.Get("Content-Length") != strconv.Itoa(len(tt.wantBody)) {
				t.Errorf("%s %s: Content-Length %q, want %d", tt.method, tt.path, res.Header.Get("Content-Length"), len(tt.wantBody))
			}
			if res.Header.Get("ETag") == "" {
				t.Errorf("%s %s: no ETag", tt.method, tt.path)
			}
		})
	}
}

func TestShellRevalidation(t *testing.T) {
	s := shellServer(builtShell())
	get := func(accept, ifNoneMatch string) *http.Response {
		r := httptest.NewRequest("GET", "/"+testWasm, nil)
		r.Header.Set("Accept-Encoding", accept)
		if ifNoneMatch != "" {
			r.Header.Set("If-None-Match", ifNoneMatch)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Result()
	}
	br := get("br", "")
	gz := get("gzip", "")
	etag := br.Header.Get("ETag")
	if etag == "" || etag == gz.Header.Get("ETag") {
		t.Fatalf("ETags of the brotli and gzip forms: %q and %q; want two different tags", etag, gz.Header.Get("ETag"))
	}
	if res := get("br", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current tag: status %d, want 304", res.StatusCode)
	}
	if res := get("gzip", etag); res.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with the brotli tag on the gzip form: status %d, want 200", res.StatusCode)
	}
}

func TestShellUnknownPaths(t *testing.T) {
	s := shellServer(builtShell())
	for _, p := range []string{"/README.md", "/index.html.br", "/nope.js", "/_matrix/client/v3/nothing"} {
		r := httptest.NewRequest("GET", p, nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "M_UNRECOGNIZED") {
			t.Errorf("GET %s: %d %s, want 404 M_UNRECOGNIZED", p, w.Code, w.Body)
		}
	}
}

func TestShellNotBuilt(t *testing.T) {
	s := shellServer(fstest.MapFS{"README.md": {Data: []byte("readme")}})
	for _, p := range []string{"/", "/index.html", "/hearth.js", "/hearth-sw.js"} {
		r := httptest.NewRequest("GET", p, nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "make build") {
			t.Errorf("GET %s: %d %q, want 503 saying to run make build", p, w.Code, w.Body)
		}
	}
}

func TestShellNone(t *testing.T) {
	s := shellServer(nil)
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "M_UNRECOGNIZED") {
		t.Errorf("GET / without a shell: %d %s, want 404 M_UNRECOGNIZED", w.Code, w.Body)
	}
}

func TestChooseEncoding(t *testing.T) {
	all := map[string]bool{"": true, "br": true, "gzip": true}
	gzOnly := map[string]bool{"": true, "gzip": true}
	tests := []struct {
		accept string
		have   map[string]bool
		want   string
	}{
		{"", all, ""},
		{"gzip, deflate, br, zstd", all, "br"},
		{"GZIP", all, "gzip"},
		{"br;q=0", all, ""},
		{"br;q=0,gzip", all, "gzip"},
		{"br ; q=0.0 , gzip ; q=1", all, "gzip"},
		{"*;q=0.1", all, "br"},
		{"*;q=0, gzip", all, "gzip"},
		{"br", gzOnly, ""},
		{"br, gzip", gzOnly, "gzip"},
		{"deflate", all, ""},
		{"br;q=bogus", all, "br"},
	}
	for _, tt := range tests {
		if got := chooseEncoding(tt.accept, tt.have); got != tt.want {
			t.Errorf("chooseEncoding(%q) = %q, want %q", tt.accept, got, tt.want)
		}
	}
}

// FuzzChooseEncoding checks that any Accept-Encoding header picks an
// encoding the file has, and identity when the header names none of them.
func FuzzChooseEncoding(f *testing.F) {
	for _, s := range []string{"", "br", "gzip, deflate, br", "br;q=0, gzip;q=0.5", "*;q=0", "br;q=1e309", ";;,,", "gzip;q=-1"} {
		f.Add(s)
	}
	have := map[string]bool{"": true, "br": true, "gzip": true}
	gzOnly := map[string]bool{"": true, "gzip": true}
	f.Fuzz(func(t *testing.T, accept string) {
		for _, h := range []map[string]bool{have, gzOnly} {
			got := chooseEncoding(accept, h)
			if !h[got] {
				t.Fatalf("chooseEncoding(%q) = %q, which the file does not have", accept, got)
			}
			lower := strings.ToLower(accept)
			if got != "" && !strings.Contains(lower, got) && !strings.Contains(lower, "*") {
				t.Fatalf("chooseEncoding(%q) = %q, which the header does not name", accept, got)
			}
		}
	})
}

// TestShellHost: a native server serving the shell tells the page its name
// and whether the first owner is still to be registered; a server without
// a built shell has no such endpoint.
func TestShellHost(t *testing.T) {
	ts := newTestServer(t)
	s := &Server{opts: ts.Server.opts, mux: http.NewServeMux()}
	s.registerBasicRoutes()
	s.mountShell(builtShell())
	host := func() (int, map[string]any, http.Header) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/_hearth/shell/v1/host", nil))
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out, rec.Header()
	}
	code, body, h := host()
	if code != 200 || body["server_name"] != testServerName || body["needs_owner"] != true {
		t.Fatalf("before any account: %d %v", code, body)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
	ts.registerTestUser(t, "owner")
	if code, body, _ = host(); code != 200 || body["needs_owner"] != false {
		t.Fatalf("after the first account: %d %v", code, body)
	}

	bare := shellServer(fstest.MapFS{"README.md": {Data: []byte("readme")}})
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest("GET", "/_hearth/shell/v1/host", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "M_UNRECOGNIZED") {
		t.Fatalf("without a built shell: %d %s", rec.Code, rec.Body.String())
	}
}
