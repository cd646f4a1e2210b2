package web

import (
	"net/http"
	"strings"
	"sync"
)

// readScoped returns r with a read scope in its context when r is a
// read-only request (core.ReadScopes: its reads share one read
// transaction), w wrapped so the scope ends before the answer is written
// (scopedWriter), and the function that ends the scope.
func (s *Server) readScoped(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	if s.opts.Reads == nil || !readOnlyRequest(r) {
		return w, r, func() {}
	}
	ctx, end := s.opts.Reads.ReadScope(r.Context())
	sw := &scopedWriter{ResponseWriter: w}
	sw.end = func() { sw.once.Do(end) }
	return sw, r.WithContext(ctx), sw.end
}

// scopedWriter ends a request's read scope at the first byte of its
// answer (WriteHeader, Write or Flush): the client reads the answer at
// its own pace (a phone on a bad link, a large initial /sync), and a read
// transaction held for that long keeps a pool connection, a scope slot
// and a WAL snapshot that stops every checkpoint short of the WAL's end.
// A read the handler makes after that runs on its own, as without a
// scope.
type scopedWriter struct {
	http.ResponseWriter
	once sync.Once
	end  func()
}

func (w *scopedWriter) WriteHeader(code int) {
	w.end()
	w.ResponseWriter.WriteHeader(code)
}

func (w *scopedWriter) Write(b []byte) (int, error) {
	w.end()
	return w.ResponseWriter.Write(b)
}

// Flush keeps http.Flusher working through the wrapper.
func (w *scopedWriter) Flush() {
	w.end()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *scopedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// readOnlyRequest reports whether r only reads: GET and HEAD (except
// media, whose downloads wait for uploads in progress and keep remote
// media), and POST /keys/query. A read-only request that writes all the
// same (/sync's presence, a device's last seen, a remote answer cached)
// loses nothing: a write ends the scope's transaction.
func readOnlyRequest(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return !strings.Contains(r.URL.Path, "/media/")
	case http.MethodPost:
		return strings.HasSuffix(r.URL.Path, "/keys/query")
	}
	return false
}
