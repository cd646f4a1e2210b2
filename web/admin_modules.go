package web

import (
	"net/http"

	"hearth.dev/hearth/core"
)

func (s *Server) registerAdminModuleRoutes() {
	s.mux.HandleFunc("GET /_hearth/admin/v1/modules", s.admin(s.getAdminModules))
}

// getAdminModules is GET /_hearth/admin/v1/modules, for admins: the loaded
// modules in configuration order, with their callbacks, caps, call and
// failure counts and the p99 of their recent calls' time.
func (s *Server) getAdminModules(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	mods := s.opts.Modules.ModuleInfo()
	if mods == nil {
		mods = []core.ModuleInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"modules": mods})
	return nil
}
