package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func (s *Server) registerMessagesRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/rooms/{roomId}/messages", s.authed(s.getMessages))
}

// getMessages is GET /rooms/{roomId}/messages.
func (s *Server) getMessages(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	req := clientsync.MessagesRequest{Viewer: viewer(sess), RoomID: r.PathValue("roomId")}
	var err error
	if req.Dir, err = clientsync.ParseDirection(r.URL.Query().Get("dir"), core.Backward); err != nil {
		return err
	}
	if req.From, err = queryPageToken(r, "from"); err != nil {
		return err
	}
	if req.To, err = queryPageToken(r, "to"); err != nil {
		return err
	}
	if req.Limit, err = queryLimit(r); err != nil {
		return err
	}
	if req.Filter, err = queryRoomEventFilter(r); err != nil {
		return err
	}
	resp, err := s.opts.Timeline.Messages(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
