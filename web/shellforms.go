//go:build !js

package web

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// bin/hearth stores each file of the browser shell once, brotli-compressed
// (web/embedded). Browsers accept brotli; for the rare client that does not
// (curl without --compressed, Go's http.Client, old tools), the server
// makes the identity or gzip form from the brotli one when first asked and
// keeps it in memory until shellFormIdle passes without a request for it,
// so a binary that serves only browsers never holds the decompressed
// wasm. Decoding the 6.5 MB brotli wasm to 37 MB takes about 0.6 s of CPU,
// gzip at BestSpeed another 0.8 s (11 MB); gzip's default level would take
// 3.7 s for 2 MB less.

// shellFormIdle is how long a made form stays in memory after its last use.
const shellFormIdle = 5 * time.Minute

// shellGzipLevel trades size for the CPU a gzip-only client costs.
const shellGzipLevel = gzip.BestSpeed

// shellMade holds the forms of one file made from its brotli form.
type shellMade struct {
	mu    sync.Mutex
	forms map[string][]byte // "" (identity) or "gzip" → bytes
	drop  *time.Timer
}

// form returns the file's form enc ("" or "gzip"), decoding brPath in fsys
// unless the form is still held. Callers asking at once wait for the one
// that makes it.
func (m *shellMade) form(fsys fs.FS, brPath, enc string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.forms[enc]; ok {
		m.keep()
		return b, nil
	}
	raw, ok := m.forms[""]
	if !ok {
		f, err := fsys.Open(brPath)
		if err != nil {
			return nil, err
		}
		raw, err = io.ReadAll(brotli.NewReader(f))
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	b := raw
	switch enc {
	case "":
	case "gzip":
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, shellGzipLevel)
		if err != nil {
			return nil, err
		}
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		b = buf.Bytes()
	default:
		return nil, errors.New("no such form: " + enc)
	}
	if m.forms == nil {
		m.forms = map[string][]byte{}
	}
	m.forms[enc] = b
	m.keep()
	return b, nil
}

// keep (re)starts the timer that drops the made forms. m.mu is held.
func (m *shellMade) keep() {
	if m.drop == nil {
		m.drop = time.AfterFunc(shellFormIdle, m.release)
		return
	}
	m.drop.Reset(shellFormIdle)
}

// release drops the made forms; the next request makes them again.
func (m *shellMade) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forms = nil
}

// held reports whether the form enc is in memory.
func (m *shellMade) held(enc string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.forms[enc]
	return ok
}

// lazyForm is an io.ReadSeeker over bytes loaded on first Read or Seek, so
// that http.ServeContent answers 304 without making the form.
type lazyForm struct {
	load func() ([]byte, error)
	r    *bytes.Reader
	err  error
}

// errShellUnreadable is what http.ServeContent writes when a form cannot
// be made: the decoder's words stay inside.
var errShellUnreadable = errors.New("shell file unreadable")

func (l *lazyForm) open() error {
	if l.r == nil && l.err == nil {
		b, err := l.load()
		if err != nil {
			l.err = errShellUnreadable
		}
		l.r = bytes.NewReader(b)
	}
	return l.err
}

func (l *lazyForm) Read(p []byte) (int, error) {
	if err := l.open(); err != nil {
		return 0, err
	}
	return l.r.Read(p)
}

func (l *lazyForm) Seek(offset int64, whence int) (int64, error) {
	if err := l.open(); err != nil {
		return 0, err
	}
	return l.r.Seek(offset, whence)
}
