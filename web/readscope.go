package web

import (
	"net/http"
	"strings"
)

// readScoped returns r with a read scope in its context when r is a
// read-only request (core.ReadScopes: its reads share one read
// transaction), and the function that ends the scope.
func (s *Server) readScoped(r *http.Request) (*http.Request, func()) {
	if s.opts.Reads == nil || !readOnlyRequest(r) {
		return r, func() {}
	}
	ctx, end := s.opts.Reads.ReadScope(r.Context())
	return r.WithContext(ctx), end
}

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
