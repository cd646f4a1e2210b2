package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The browser shell is the page that runs hearth inside a tab: index.html,
// the Hearth JS API (/hearth.js), its worker, its service worker
// (/hearth-sw.js), the wasm build of hearth and the page's bundle. make
// builds them into web/dist (see web/build.mjs), which native builds
// embed (shell_other.go); js builds embed nothing (shell_js.go).

// shellMissing answers the shell's entry points when the binary was built
// without the assets (`go build` on a fresh clone).
const shellMissing = "hearth: the browser shell is not built into this binary.\n" +
	"Build hearth with `make build`, which bundles it (it needs Go, Node >= 20 and npm).\n"

// hashedName matches file names that carry a content hash
// (hearth-0123456789abcdef.wasm): their content never changes.
var hashedName = regexp.MustCompile(`-[0-9a-f]{16}\.[a-z]+$`)

// registerShellRoutes serves the browser shell at / and its files at
// /<name>.
func (s *Server) registerShellRoutes() {
	s.mountShell(shellFS())
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

// shell serves the files of a built shell, each in the best precompressed
// form the client accepts.
type shell struct {
	fsys  fs.FS
	files map[string]*shellFile
}

// shellFile is one file and its precompressed forms.
type shellFile struct {
	name string
	// encodings maps "" (identity), "br" and "gzip" to the file holding
	// that form.
	encodings map[string]*shellVariant
}

type shellVariant struct {
	path string
	once sync.Once
	etag string
}

var shellEncodings = [...]struct{ token, suffix string }{{"br", ".br"}, {"gzip", ".gz"}}

// newShell indexes fsys: every top-level file but README.md, with its .br
// and .gz siblings as encodings. A tree without index.html has no files.
func newShell(fsys fs.FS) *shell {
	sh := &shell{fsys: fsys, files: map[string]*shellFile{}}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return sh
	}
	have := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			have[e.Name()] = true
		}
	}
	if !have["index.html"] {
		return sh
	}
	for name := range have {
		if name == "README.md" || strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
			continue
		}
		f := &shellFile{name: name, encodings: map[string]*shellVariant{"": {path: name}}}
		for _, enc := range shellEncodings {
			if have[name+enc.suffix] {
				f.encodings[enc.token] = &shellVariant{path: name + enc.suffix}
			}
		}
		sh.files[name] = f
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
	enc := chooseEncoding(r.Header.Get("Accept-Encoding"), f.encodings)
	v := f.encodings[enc]
	file, err := sh.fsys.Open(v.path)
	if err != nil {
		http.Error(w, "shell file unreadable", http.StatusInternalServerError)
		return
	}
	defer file.Close()
	content, ok := file.(io.ReadSeeker)
	if !ok {
		http.Error(w, "shell file unreadable", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", shellContentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	if len(f.encodings) > 1 {
		h.Set("Vary", "Accept-Encoding")
	}
	if enc != "" {
		h.Set("Content-Encoding", enc)
	}
	if hashedName.MatchString(name) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", v.etagOf(sh.fsys, enc))
	if enc != "" && r.Header.Get("Range") == "" {
		// ServeContent leaves Content-Length out of encoded responses.
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

// etagOf returns the strong ETag of the variant: a hash of its bytes,
// computed on first use, tagged with the encoding.
func (v *shellVariant) etagOf(fsys fs.FS, enc string) string {
	v.once.Do(func() {
		h := sha256.New()
		if f, err := fsys.Open(v.path); err == nil {
			io.Copy(h, f)
			f.Close()
		}
		tag := hex.EncodeToString(h.Sum(nil)[:12])
		if enc != "" {
			tag += "-" + enc
		}
		v.etag = strconv.Quote(tag)
	})
	return v.etag
}

// chooseEncoding picks brotli, then gzip, then identity, among what the
// Accept-Encoding header allows and the file has.
func chooseEncoding(accept string, have map[string]*shellVariant) string {
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
		if have[enc.token] == nil {
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
