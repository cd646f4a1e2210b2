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
func (s *Server) getTimestampToEvent(w http.ResponseWriter, r *http.Request, sess *core.Session) {
	q := r.URL.Query()
	if q.Get("ts") == "" || q.Get("dir") == "" {
		writeError(w, r, core.ErrMissingParam.WithMessage("ts and dir are required"))
		return
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil {
		writeError(w, r, core.ErrInvalidParam.WithMessage("ts must be an integer"))
		return
	}
	dir, err := clientsync.ParseDirection(q.Get("dir"), core.Forward)
	if err != nil {
		writeError(w, r, err)
		return
	}
	resp, err := s.timeline.EventAtTimestamp(r.Context(), viewer(sess), r.PathValue("roomId"), ts, dir)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
