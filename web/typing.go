package web

import (
	"net/http"
	"time"

	"hearth.dev/hearth/core"
)

// registerTypingRoutes serves typing notifications.
func (s *Server) registerTypingRoutes() {
	s.mux.HandleFunc("PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}", s.authed(s.putTyping))
}

// putTyping answers PUT /rooms/{roomId}/typing/{userId}: typing (required)
// and timeout in milliseconds (required when typing).
func (s *Server) putTyping(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if r.PathValue("userId") != sess.UserID {
		return core.ErrForbidden.WithMessage("You cannot set another user's typing state")
	}
	roomID, err := s.joinedRoom(r, sess)
	if err != nil {
		return err
	}
	var body struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Typing == nil {
		return core.ErrMissingParam.WithMessage("typing is required")
	}
	var timeout time.Duration
	if *body.Typing {
		if body.Timeout == nil {
			return core.ErrMissingParam.WithMessage("timeout is required when typing")
		}
		if *body.Timeout < 0 {
			return core.ErrInvalidParam.WithMessage("timeout must not be negative")
		}
		timeout = time.Duration(min(*body.Timeout, int64(time.Hour/time.Millisecond))) * time.Millisecond
	}
	if err := s.opts.Typing.SetTyping(r.Context(), roomID, sess.UserID, *body.Typing, timeout); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
