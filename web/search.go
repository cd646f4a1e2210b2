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
func (s *Server) postSearch(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body searchRequest
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.SearchCategories == nil {
		return core.ErrBadJSON.WithMessage("search_categories is required")
	}
	var resp clientsync.SearchResponse
	if c := body.SearchCategories.RoomEvents; c != nil {
		if c.SearchTerm == "" {
			return core.ErrBadJSON.WithMessage("room_events.search_term is required")
		}
		if err := c.Check(); err != nil {
			return err
		}
		res, err := s.opts.Timeline.Search(r.Context(), viewer(sess), c, r.URL.Query().Get("next_batch"))
		if err != nil {
			return err
		}
		resp.SearchCategories.RoomEvents = res
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
