package web

import (
	"net/http"

	"hearth.dev/hearth/core"
)

// specVersions lists the client-server spec versions hearth implements.
var specVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"}

func (s *Server) registerBasicRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/versions", s.getVersions)
	s.mux.HandleFunc("/", s.unrecognized)
}

func (s *Server) getVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"versions":          specVersions,
		"unstable_features": map[string]bool{},
	})
}

// unrecognized answers requests no route matched.
func (s *Server) unrecognized(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, core.ErrUnrecognized)
}
