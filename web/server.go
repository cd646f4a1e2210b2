// Package web is hearth's client-facing HTTP surface: the Matrix
// client-server API under /_matrix/client, media, .well-known, and the Matrix
// error writer every handler leaves through. It reaches storage only
// through interfaces that core declares; cmd/hearth and wasm wire it.
//
// Importing the package has no side effects.
package web

import (
	"net/http"
	"time"

	"hearth.dev/hearth/core"
)

// Options configure a Server.
type Options struct {
	// ServerName is the homeserver's name (the part after ':' in user IDs).
	ServerName string
	// Version is hearth's version string, shown by /versions' server info
	// and the admin API.
	Version string
	// Now is the clock; nil uses time.Now.
	Now func() time.Time

	// Sessions resolves access tokens for authenticated endpoints.
	Sessions core.SessionStore
}

// Server answers the client-server API.
type Server struct {
	opts Options
	mux  *http.ServeMux
}

// NewServer builds the handler tree.
func NewServer(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, mux: http.NewServeMux()}
	s.registerBasicRoutes()
	return s
}

// ServeHTTP applies CORS and hands the request to the routes; a path no
// route knows gets M_UNRECOGNIZED.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// setCORS sets the headers the client-server API spec asks for on every
// response, so browser clients on other origins can call it.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
}
