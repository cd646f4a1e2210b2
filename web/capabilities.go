package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/roomversion"
)

// getCapabilities answers GET /capabilities.
func (s *Server) getCapabilities(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	available := map[string]string{}
	for _, v := range roomversion.All() {
		available[string(v.ID)] = string(v.Stability)
	}
	enabled := func(b bool) map[string]bool { return map[string]bool{"enabled": b} }
	writeJSON(w, http.StatusOK, map[string]any{
		"capabilities": map[string]any{
			"m.change_password": enabled(true),
			"m.room_versions": map[string]any{
				"default":   string(roomversion.Default),
				"available": available,
			},
			"m.set_displayname": enabled(true),
			"m.set_avatar_url":  enabled(true),
			"m.3pid_changes":    enabled(false),
			"m.get_login_token": enabled(true),
		},
	})
	return nil
}
