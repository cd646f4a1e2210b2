package web

import (
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
)

// specVersions lists the client-server spec versions hearth implements.
var specVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"}

func (s *Server) registerBasicRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/versions", public(s.getVersions))
	s.mux.HandleFunc("/", public(s.unrecognized))
}

func (s *Server) getVersions(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"versions": specVersions,
		"unstable_features": map[string]bool{
			// Simplified sliding sync (slidingsync.go).
			"org.matrix.simplified_msc3575": true,
		},
	})
	return nil
}

// unrecognized answers requests no route matched: 405 M_UNRECOGNIZED when
// the path is known under another method (with an Allow header), as the
// spec asks, and 404 M_UNRECOGNIZED otherwise.
func (s *Server) unrecognized(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range [...]string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return core.ErrUnrecognized.WithStatus(http.StatusMethodNotAllowed).WithMessage("method %s not allowed here", r.Method)
	}
	return core.ErrUnrecognized
}
