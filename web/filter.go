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
	s.mux.HandleFunc("POST /_matrix/client/v3/user/{userId}/filter", s.authed(s.postFilter))
	s.mux.HandleFunc("GET /_matrix/client/v3/user/{userId}/filter/{filterId}", s.authed(s.getFilter))
}

var errOtherUsersFilters = core.ErrForbidden.WithMessage("Cannot access the filters of other users")

// postFilter is POST /user/{userId}/filter.
func (s *Server) postFilter(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if r.PathValue("userId") != sess.UserID {
		return errOtherUsersFilters
	}
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	if _, err := clientsync.ParseFilter(body); err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return core.ErrNotJSON
	}
	id, err := s.opts.Timeline.Filters().PutFilter(r.Context(), sess.UserID, compact.Bytes())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"filter_id": id})
	return nil
}

// getFilter is GET /user/{userId}/filter/{filterId}.
func (s *Server) getFilter(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if r.PathValue("userId") != sess.UserID {
		return errOtherUsersFilters
	}
	js, err := s.opts.Timeline.Filters().Filter(r.Context(), sess.UserID, r.PathValue("filterId"))
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("No such filter")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, json.RawMessage(js))
	return nil
}
