//go:build !js

package web

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

// brotliOf compresses b as build.mjs does.
func brotliOf(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := brotli.NewWriterLevel(&buf, 6)
	w.Write(b)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// unencode returns the body of res decoded from its Content-Encoding.
func unencode(tb testing.TB, res *http.Response, body []byte) []byte {
	tb.Helper()
	var r io.Reader
	switch enc := res.Header.Get("Content-Encoding"); enc {
	case "":
		return body
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			tb.Fatalf("gzip body: %v", err)
		}
		r = zr
	default:
		tb.Fatalf("Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("decoding %s body: %v", res.Header.Get("Content-Encoding"), err)
	}
	return out
}

// brotliShell is a web/embedded as build.mjs --embed leaves it: the large
// files only as NAME.br, the small one as itself. It returns the tree and
// the original files.
func brotliShell(tb testing.TB) (fstest.MapFS, map[string][]byte) {
	var wasm bytes.Buffer
	for i := 0; wasm.Len() < 300<<10; i++ {
		fmt.Fprintf(&wasm, "\x00asm func %d calls %d;", i, i*7919%1000)
	}
	orig := map[string][]byte{
		"index.html": []byte("<!doctype html>" + strings.Repeat("<p>index</p>", 200)),
		testWasm:     wasm.Bytes(),
		"hearth.js":  []byte("export class Hearth {}"),
	}
	return fstest.MapFS{
		"README.md":      {Data: []byte("readme")},
		".gitignore":     {Data: []byte("*")},
		"index.html.br":  {Data: brotliOf(tb, orig["index.html"])},
		testWasm + ".br": {Data: brotliOf(tb, orig[testWasm])},
		"hearth.js":      {Data: orig["hearth.js"]},
	}, orig
}

// TestShellBrotliOnly: a file stored only brotli-compressed is sent as it is
// to a client that accepts brotli, and decompressed (gzip or identity) for
// one that does not, over real HTTP; every form decodes to the original
// bytes, with its own ETag, Content-Length and 304 on revalidation.
func TestShellBrotliOnly(t *testing.T) {
	fsys, orig := brotliShell(t)
	s := shellServer(fsys)
	net := newLoopback(t, func() http.Handler { return s })
	get := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		rec := net.do(t, r)
		return rec.Result(), rec.Body.Bytes()
	}
	tags := map[string]string{}
	for _, tt := range []struct {
		path, accept, wantEnc string
	}{
		{"/" + testWasm, "gzip, deflate, br, zstd", "br"},
		{"/" + testWasm, "gzip", "gzip"},
		{"/" + testWasm, "br;q=0, gzip;q=0.5", "gzip"},
		{"/" + testWasm, "identity", ""},
		{"/" + testWasm, "", ""},
		{"/", "br", "br"},
		{"/index.html", "gzip", "gzip"},
		{"/index.html", "deflate", ""},
		{"/hearth.js", "br, gzip", ""},
	} {
		name := strings.TrimPrefix(tt.path, "/")
		if name == "" {
			name = "index.html"
		}
		res, body := get("GET", tt.path, "Accept-Encoding", tt.accept)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s (Accept-Encoding %q): %d %s", tt.path, tt.accept, res.StatusCode, body)
		}
		if got := res.Header.Get("Content-Encoding"); got != tt.wantEnc {
			t.Errorf("GET %s (Accept-Encoding %q): Content-Encoding %q, want %q", tt.path, tt.accept, got, tt.wantEnc)
		}
		if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
			t.Errorf("GET %s (Accept-Encoding %q): Content-Length %q for %d bytes", tt.path, tt.accept, got, len(body))
		}
		if tt.wantEnc == "br" && !bytes.Equal(body, fsys[name+".br"].Data) {
			t.Errorf("GET %s (Accept-Encoding %q): the brotli body is not the stored one", tt.path, tt.accept)
		}
		if got := unencode(t, res, body); !bytes.Equal(got, orig[name]) {
			t.Errorf("GET %s (Accept-Encoding %q): %d bytes decoded, differ from the original %d", tt.path, tt.accept, len(got), len(orig[name]))
		}
		tag := res.Header.Get("ETag")
		if prev, ok := tags[name+"/"+tt.wantEnc]; ok && prev != tag {
			t.Errorf("GET %s: ETag %q, then %q for the same form", tt.path, prev, tag)
		}
		tags[name+"/"+tt.wantEnc] = tag
		if res, _ := get("GET", tt.path, "Accept-Encoding", tt.accept, "If-None-Match", tag); res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s (Accept-Encoding %q) If-None-Match %s: %d, want 304", tt.path, tt.accept, tag, res.StatusCode)
		}
	}
	seen := map[string]string{}
	for form, tag := range tags {
		if other, ok := seen[tag]; ok {
			t.Errorf("forms %s and %s share the ETag %s", form, other, tag)
		}
		seen[tag] = form
	}

	// A range of the decompressed form, and HEAD with its length.
	res, body := get("GET", "/"+testWasm, "Range", "bytes=100-199")
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, orig[testWasm][100:200]) {
		t.Errorf("Range of the identity form: %d %q", res.StatusCode, body)
	}
	res, _ = get("HEAD", "/"+testWasm, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD gzip: %d, Content-Encoding %q, Content-Length %q", res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Content-Length"))
	}
}

// TestShellMadeFormsReleased: the forms made from the brotli one are held
// only once asked for, and dropped by release; a revalidation that ends in
// 304 makes none.
func TestShellMadeFormsReleased(t *testing.T) {
	fsys, orig := brotliShell(t)
	sh := newShell(fsys)
	s := shellServer(nil)
	s.mux.Handle("GET /{$}", sh)
	for name := range sh.files {
		s.mux.Handle("GET /"+name, sh)
	}
	f := sh.files[testWasm]
	get := func(accept, inm string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/"+testWasm, nil)
		r.Header.Set("Accept-Encoding", accept)
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	if w := get("br", ""); w.Code != 200 || f.made.held("") || f.made.held("gzip") {
		t.Fatalf("after a brotli request: %d, identity held %v, gzip held %v", w.Code, f.made.held(""), f.made.held("gzip"))
	}
	tag, err := f.etag(fsys, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	if w := get("gzip", tag); w.Code != http.StatusNotModified || f.made.held("gzip") || f.made.held("") {
		t.Fatalf("revalidating the gzip form: %d, identity held %v, gzip held %v", w.Code, f.made.held(""), f.made.held("gzip"))
	}
	if w := get("gzip", ""); w.Code != 200 || !f.made.held("gzip") {
		t.Fatalf("after a gzip request: %d, gzip held %v", w.Code, f.made.held("gzip"))
	}
	f.made.release()
	if f.made.held("gzip") || f.made.held("") {
		t.Fatalf("after release: identity held %v, gzip held %v", f.made.held(""), f.made.held("gzip"))
	}
	if w := get("", ""); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), orig[testWasm]) {
		t.Fatalf("identity after release: %d, %d bytes", w.Code, w.Body.Len())
	}
}

// TestShellCorruptBrotli: a brotli form that does not decode is a 500
// without the decoder's words, not a truncated file.
func TestShellCorruptBrotli(t *testing.T) {
	fsys, _ := brotliShell(t)
	fsys[testWasm+".br"] = &fstest.MapFile{Data: []byte("not brotli at all")}
	s := shellServer(fsys)
	for _, accept := range []string{"gzip", ""} {
		r := httptest.NewRequest("GET", "/"+testWasm, nil)
		r.Header.Set("Accept-Encoding", accept)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "brotli") {
			t.Errorf("Accept-Encoding %q: %d %q, want 500 shell file unreadable", accept, w.Code, w.Body)
		}
	}
}

// TestShellEmbedded: the shell that bin/hearth embeds (web/embedded),
// served by the real wiring over real HTTP, gives back every file of
// web/dist byte for byte, to a client with brotli and to one without.
func TestShellEmbedded(t *testing.T) {
	emb, err := fs.Sub(embedded, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	if len(newShell(emb).files) == 0 {
		t.Skip("web/embedded holds no shell: run make build")
	}
	ts := newTestServer(t)
	entries, err := os.ReadDir("dist")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "README.md" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
			continue
		}
		want, err := os.ReadFile(filepath.Join("dist", name))
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, accept := range []string{"gzip, deflate, br, zstd", "gzip, deflate", ""} {
			r := httptest.NewRequest("GET", "/"+name, nil)
			r.Header.Set("Accept-Encoding", accept)
			rec := ts.net.do(t, r)
			res := rec.Result()
			if res.StatusCode != 200 {
				t.Fatalf("GET /%s (Accept-Encoding %q): %d", name, accept, res.StatusCode)
			}
			if got := unencode(t, res, rec.Body.Bytes()); !bytes.Equal(got, want) {
				t.Errorf("GET /%s (Accept-Encoding %q, answered %q): %d bytes, differ from web/dist's %d", name, accept, res.Header.Get("Content-Encoding"), len(got), len(want))
			}
		}
	}
	if n == 0 {
		t.Fatal("web/dist has no files to compare with")
	}
}
