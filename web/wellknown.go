package web

import (
	"net/http"
	"strings"
)

// getWellKnownClient answers GET /.well-known/matrix/client (server
// discovery).
func (s *Server) getWellKnownClient(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.wellKnownClient(r))
	return nil
}

// wellKnownClient is the discovery object: Options.PublicBaseURL, or the
// scheme and host the request arrived on.
func (s *Server) wellKnownClient(r *http.Request) map[string]any {
	return map[string]any{"m.homeserver": map[string]string{"base_url": s.baseURL(r)}}
}

// baseURL is the client-server API's public base URL.
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicBaseURL != "" {
		return strings.TrimSuffix(s.opts.PublicBaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if host == "" {
		host = s.opts.ServerName
	}
	return scheme + "://" + host
}
