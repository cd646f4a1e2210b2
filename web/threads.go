package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func (s *Server) registerThreadsRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v1/rooms/{roomId}/threads", s.authed(s.getThreads))
}

// getThreads is GET /rooms/{roomId}/threads.
func (s *Server) getThreads(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	req := clientsync.ThreadsRequest{Viewer: viewer(sess), RoomID: r.PathValue("roomId")}
	switch r.URL.Query().Get("include") {
	case "", "all":
	case "participated":
		req.Participated = true
	default:
		return core.ErrInvalidParam.WithMessage("include must be all or participated")
	}
	var err error
	if req.From, err = queryPageToken(r, "from"); err != nil {
		return err
	}
	if req.Limit, err = queryLimit(r); err != nil {
		return err
	}
	resp, err := s.opts.Timeline.Threads(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
