package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

func (s *Server) registerHierarchyRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v1/rooms/{roomId}/hierarchy", s.authed(s.getHierarchy))
}

// getHierarchy is GET /rooms/{roomId}/hierarchy (client-server API v1.2,
// "Spaces"): suggested_only, limit, max_depth and from; the walk is
// core's (room.Pipeline.Hierarchy), which asks other servers for children
// this server is not in when federation is wired.
func (s *Server) getHierarchy(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	suggested, err := queryBool(r, "suggested_only", false)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return err
	}
	if r.URL.Query().Has("limit") && limit == 0 {
		return core.ErrInvalidParam.WithMessage("limit must be greater than zero")
	}
	maxDepth, err := queryInt(r, "max_depth", -1)
	if err != nil {
		return err
	}
	req := room.HierarchyRequest{
		RoomID: r.PathValue("roomId"), UserID: sess.UserID, SuggestedOnly: suggested,
		MaxDepth: maxDepth, Limit: limit, From: r.URL.Query().Get("from"),
	}
	if s.opts.RemoteRooms != nil {
		req.Remote = s.opts.RemoteRooms.RemoteHierarchy
	}
	page, err := s.opts.Rooms.Hierarchy(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
