package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func (s *Server) registerContextRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}", s.authed(s.getContext))
}

// defaultContextLimit is /context's limit when none is given.
const defaultContextLimit = 10

// getContext is GET /rooms/{roomId}/context/{eventId}.
func (s *Server) getContext(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	req := clientsync.ContextRequest{Viewer: viewer(sess), RoomID: r.PathValue("roomId"), EventID: r.PathValue("eventId")}
	var err error
	if req.Limit, err = queryInt(r, "limit", defaultContextLimit); err != nil {
		return err
	}
	if req.Filter, err = queryRoomEventFilter(r); err != nil {
		return err
	}
	resp, err := s.opts.Timeline.Context(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
