package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// registerFilterRoutes serves the filter API.
func (s *Server) registerFilterRoutes() {
	if s.timeline.Filters() == nil {
		return
	}
	s.mux.HandleFunc("POST /_matrix/client/v3/user/{userId}/filter", s.authed(s.postFilter))
	s.mux.HandleFunc("GET /_matrix/client/v3/user/{userId}/filter/{filterId}", s.authed(s.getFilter))
}

var errOtherUsersFilters = core.ErrForbidden.WithMessage("Cannot access the filters of other users")

// postFilter is POST /user/{userId}/filter.
func (s *Server) postFilter(w http.ResponseWriter, r *http.Request, sess *core.Session) {
	if r.PathValue("userId") != sess.UserID {
		writeError(w, r, errOtherUsersFilters)
		return
	}
	body, err := readJSONBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if _, err := clientsync.ParseFilter(body); err != nil {
		writeError(w, r, err)
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		writeError(w, r, core.ErrNotJSON)
		return
	}
	id, err := s.timeline.Filters().PutFilter(r.Context(), sess.UserID, compact.Bytes())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"filter_id": id})
}

// getFilter is GET /user/{userId}/filter/{filterId}.
func (s *Server) getFilter(w http.ResponseWriter, r *http.Request, sess *core.Session) {
	if r.PathValue("userId") != sess.UserID {
		writeError(w, r, errOtherUsersFilters)
		return
	}
	js, err := s.timeline.Filters().Filter(r.Context(), sess.UserID, r.PathValue("filterId"))
	if errors.Is(err, core.ErrNotFound) {
		writeError(w, r, core.ErrNotFound.WithMessage("No such filter"))
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(js))
}
