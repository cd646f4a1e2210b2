package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func (s *Server) registerSearchRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/search", s.authed(s.postSearch))
}

// searchRequest is the body of POST /search.
type searchRequest struct {
	SearchCategories *struct {
		RoomEvents *clientsync.RoomEventsCriteria `json:"room_events"`
	} `json:"search_categories"`
}

// postSearch is POST /search (the room_events category).
func (s *Server) postSearch(w http.ResponseWriter, r *http.Request, sess *core.Session) {
	var body searchRequest
	if err := readJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if body.SearchCategories == nil {
		writeError(w, r, core.ErrBadJSON.WithMessage("search_categories is required"))
		return
	}
	var resp clientsync.SearchResponse
	if c := body.SearchCategories.RoomEvents; c != nil {
		if c.SearchTerm == "" {
			writeError(w, r, core.ErrBadJSON.WithMessage("room_events.search_term is required"))
			return
		}
		if err := c.Check(); err != nil {
			writeError(w, r, err)
			return
		}
		res, err := s.timeline.Search(r.Context(), viewer(sess), c, r.URL.Query().Get("next_batch"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		resp.SearchCategories.RoomEvents = res
	}
	writeJSON(w, http.StatusOK, resp)
}
