package web

import (
	"net/http"

	"hearth.dev/hearth/core"
)

// postUpgrade is POST /rooms/{roomId}/upgrade.
func (s *Server) postUpgrade(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		NewVersion         string   `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.NewVersion == "" {
		return core.ErrMissingParam.WithMessage("new_version is required")
	}
	newRoom, err := s.opts.Rooms.UpgradeRoom(r.Context(), r.PathValue("roomId"), sess.UserID, body.NewVersion, body.AdditionalCreators)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"replacement_room": newRoom})
	return nil
}
