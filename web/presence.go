package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// registerPresenceRoutes serves the presence API.
func (s *Server) registerPresenceRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/presence/{userId}/status", s.authed(s.getPresence))
	s.mux.HandleFunc("PUT /_matrix/client/v3/presence/{userId}/status", s.authed(s.putPresence))
}

// getPresence answers GET /presence/{userId}/status with the presence
// recorded for the user (offline when none is).
func (s *Server) getPresence(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	uid, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return core.ErrInvalidParam.WithMessage("invalid user ID")
	}
	p, err := s.opts.Presence.Presence(r.Context(), string(uid))
	if errors.Is(err, core.ErrNotFound) {
		// Never set: offline, as Synapse answers.
		p, err = core.Presence{UserID: string(uid), Presence: core.PresenceOffline}, nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.Content(s.opts.Now()))
	return nil
}

// putPresence answers PUT /presence/{userId}/status for the session's own
// user: presence (online, unavailable, offline) and an optional status_msg.
func (s *Server) putPresence(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if r.PathValue("userId") != sess.UserID {
		return core.ErrForbidden.WithMessage("You cannot set another user's presence")
	}
	var body struct {
		Presence  *string         `json:"presence"`
		StatusMsg json.RawMessage `json:"status_msg"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Presence == nil {
		return core.ErrMissingParam.WithMessage("presence is required")
	}
	if !core.ValidPresence(*body.Presence) {
		return core.ErrInvalidParam.WithMessage("presence must be online, unavailable or offline")
	}
	var msg *string
	if len(body.StatusMsg) > 0 && string(body.StatusMsg) != "null" {
		var m string
		if json.Unmarshal(body.StatusMsg, &m) != nil {
			return core.ErrBadJSON.WithMessage("status_msg must be a string")
		}
		msg = &m
	}
	if err := s.opts.Presence.SetPresence(r.Context(), sess.UserID, *body.Presence, msg); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
