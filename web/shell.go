//go:build !js

package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The browser shell is the page that runs hearth inside a tab: index.html,
// the Hearth JS API (/hearth.js), its worker, its service worker
// (/hearth-sw.js), the wasm build of hearth and the page's bundle. make
// builds them into web/dist (see web/build.mjs) and, each file once and
// brotli-compressed, into web/embedded, which native builds embed
// (shell_other.go) and serve (this file, shellforms.go); js builds neither
// embed nor serve a shell (shell_js.go).

// shellMissing answers the shell's entry points when the binary was built
// without the assets (`go build` on a fresh clone).
const shellMissing = "hearth: the browser shell is not built into this binary.\n" +
	"Build hearth with `make build`, which bundles it (it needs Go, Node >= 20 and npm).\n"

// hashedName says a file name carries a content hash
// (hearth-0123456789abcdef.wasm: "-", 16 of [0-9a-f], ".", [a-z]+ at the
// end): its content never changes.
func hashedName(name string) bool {
	dot := strings.LastIndexByte(name, '.')
	if dot < 17 || dot == len(name)-1 || name[dot-17] != '-' {
		return false
	}
	for _, c := range []byte(name[dot+1:]) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	for _, c := range []byte(name[dot-16 : dot]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// mountShell serves the shell in fsys (nothing when fsys is nil).
func (s *Server) mountShell(fsys fs.FS) {
	if fsys == nil {
		return
	}
	sh := newShell(fsys)
	if len(sh.files) == 0 {
		for _, p := range [...]string{"/{$}", "/index.html", "/hearth.js", "/hearth-sw.js"} {
			s.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, shellMissing)
			})
		}
		return
	}
	s.mux.Handle("GET /{$}", sh)
	s.mux.HandleFunc("GET /_hearth/shell/v1/host", public(s.getShellHost))
	for name := range sh.files {
		s.mux.Handle("GET /"+name, sh)
	}
}

// shellHost is the answer of GET /_hearth/shell/v1/host: the page asks it
// to learn that a native homeserver serves it (a page on static hosting
// gets 404 and offers only the homeserver in the tab).
type shellHost struct {
	// ServerName is the native homeserver's name.
	ServerName string `json:"server_name"`
	// NeedsOwner is true while no account exists: the first owner then
	// registers with the one-time setup token the server logged.
	NeedsOwner bool `json:"needs_owner"`
}

// getShellHost answers GET /_hearth/shell/v1/host, which only a native
// build that serves the shell has.
func (s *Server) getShellHost(w http.ResponseWriter, r *http.Request) error {
	has, err := s.opts.Accounts.HasAccounts(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, shellHost{ServerName: s.opts.ServerName, NeedsOwner: !has})
	return nil
}

// shell serves the files of a built shell, each in the best form the
// client accepts.
type shell struct {
	fsys  fs.FS
	files map[string]*shellFile
}

// shellFile is one file of the shell: the forms the tree stores (NAME,
// NAME.br, NAME.gz) and those made from its brotli form on demand.
type shellFile struct {
	name string
	// stored maps "" (identity), "br" and "gzip" to the path of the form
	// the tree holds.
	stored map[string]string
	// offered holds the encodings the file is served in: the stored ones,
	// and identity and gzip when a brotli form can be decompressed.
	offered map[string]bool
	// made holds the forms made from the brotli form (shellforms.go).
	made shellMade

	tagOnce sync.Once
	tag     string
}

var shellEncodings = [...]struct{ token, suffix string }{{"br", ".br"}, {"gzip", ".gz"}}

// newShell indexes fsys: every top-level file but README.md, under its
// name without a .br or .gz suffix. A tree without index.html (in any
// form) has no files.
func newShell(fsys fs.FS) *shell {
	sh := &shell{fsys: fsys, files: map[string]*shellFile{}}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return sh
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name, enc := e.Name(), ""
		for _, se := range shellEncodings {
			if base, ok := strings.CutSuffix(name, se.suffix); ok {
				name, enc = base, se.token
				break
			}
		}
		f := sh.files[name]
		if f == nil {
			f = &shellFile{name: name, stored: map[string]string{}, offered: map[string]bool{}}
			sh.files[name] = f
		}
		f.stored[enc] = e.Name()
		f.offered[enc] = true
	}
	if sh.files["index.html"] == nil {
		clear(sh.files)
		return sh
	}
	for _, f := range sh.files {
		if f.stored["br"] != "" {
			f.offered[""] = true
			f.offered["gzip"] = true
		}
	}
	return sh
}

func (sh *shell) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	f := sh.files[name]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	enc := chooseEncoding(r.Header.Get("Accept-Encoding"), f.offered)
	if !f.offered[enc] {
		// Only a compressed form is stored, and the client refused it.
		enc = f.firstStored()
	}
	h := w.Header()
	h.Set("Content-Type", shellContentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	if len(f.offered) > 1 {
		h.Set("Vary", "Accept-Encoding")
	}
	if enc != "" {
		h.Set("Content-Encoding", enc)
	}
	if hashedName(name) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	tag, err := f.etag(sh.fsys, enc)
	if err != nil {
		http.Error(w, "shell file unreadable", http.StatusInternalServerError)
		return
	}
	h.Set("ETag", tag)
	var content io.ReadSeeker
	p := f.stored[enc]
	if p != "" {
		file, err := sh.fsys.Open(p)
		if err != nil {
			http.Error(w, "shell file unreadable", http.StatusInternalServerError)
			return
		}
		defer file.Close()
		rs, ok := file.(io.ReadSeeker)
		if !ok {
			http.Error(w, "shell file unreadable", http.StatusInternalServerError)
			return
		}
		content = rs
	} else {
		// A form made from the brotli one, only once the preconditions
		// (If-None-Match) ask for the body: lazyForm decodes on first use.
		lf := &lazyForm{load: func() ([]byte, error) { return f.made.form(sh.fsys, f.stored["br"], enc) }}
		if r.Header.Get("If-None-Match") == "" {
			if err := lf.open(); err != nil {
				http.Error(w, "shell file unreadable", http.StatusInternalServerError)
				return
			}
		}
		content = lf
	}
	if enc != "" && r.Header.Get("Range") == "" && (p != "" || r.Header.Get("If-None-Match") == "") {
		// ServeContent leaves Content-Length out of encoded responses. A
		// made form is not made for it when the answer may be 304.
		if size, err := content.Seek(0, io.SeekEnd); err == nil {
			if _, err := content.Seek(0, io.SeekStart); err == nil {
				h.Set("Content-Length", strconv.FormatInt(size, 10))
			}
		}
	}
	// ServeContent answers If-None-Match with 304, Range requests, HEAD,
	// and sets Content-Length.
	http.ServeContent(w, r, "", time.Time{}, content)
}

// firstStored returns an encoding the file is stored in.
func (f *shellFile) firstStored() string {
	for _, se := range shellEncodings {
		if f.stored[se.token] != "" {
			return se.token
		}
	}
	return ""
}

// etag returns the strong ETag of the file's form enc: a hash of the
// stored form the others are made from (brotli, else identity), computed
// on first use, tagged with the encoding.
func (f *shellFile) etag(fsys fs.FS, enc string) (string, error) {
	var err error
	f.tagOnce.Do(func() {
		src := f.stored["br"]
		if src == "" {
			src = f.stored[""]
		}
		if src == "" {
			src = f.stored["gzip"]
		}
		var file fs.File
		if file, err = fsys.Open(src); err != nil {
			return
		}
		defer file.Close()
		h := sha256.New()
		if _, err = io.Copy(h, file); err != nil {
			return
		}
		f.tag = hex.EncodeToString(h.Sum(nil)[:12])
	})
	if f.tag == "" {
		if err == nil {
			err = errors.New("shell file unreadable")
		}
		return "", err
	}
	if enc != "" {
		return strconv.Quote(f.tag + "-" + enc), nil
	}
	return strconv.Quote(f.tag), nil
}

// chooseEncoding picks brotli, then gzip, then identity, among what the
// Accept-Encoding header allows and the file has.
func chooseEncoding(accept string, have map[string]bool) string {
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		token, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		token = strings.ToLower(strings.TrimSpace(token))
		if token == "" {
			continue
		}
		weight := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					weight = f
				}
			}
		}
		q[token] = weight
	}
	for _, enc := range shellEncodings {
		if !have[enc.token] {
			continue
		}
		weight, ok := q[enc.token]
		if !ok {
			weight, ok = q["*"]
		}
		if ok && weight > 0 {
			return enc.token
		}
	}
	return ""
}

func shellContentType(name string) string {
	switch path.Ext(name) {
	case ".wasm":
		return "application/wasm"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	}
	return "application/octet-stream"
}
