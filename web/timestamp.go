package web

import (
	"net/http"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func (s *Server) registerTimestampRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event", s.authed(s.getTimestampToEvent))
}

// getTimestampToEvent is GET /rooms/{roomId}/timestamp_to_event.
func (s *Server) getTimestampToEvent(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	q := r.URL.Query()
	if q.Get("ts") == "" || q.Get("dir") == "" {
		return core.ErrMissingParam.WithMessage("ts and dir are required")
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("ts must be an integer")
	}
	dir, err := clientsync.ParseDirection(q.Get("dir"), core.Forward)
	if err != nil {
		return err
	}
	resp, err := s.opts.Timeline.EventAtTimestamp(r.Context(), viewer(sess), r.PathValue("roomId"), ts, dir)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
