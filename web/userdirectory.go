package web

import (
	"net/http"

	"hearth.dev/hearth/core"
)

// The user directory (client-server API, "User directory"): local users
// who share a room with the searcher or are in a public room (join rule
// public or world-readable history), as Synapse does by default.

// defaultDirectoryLimit is the spec's default limit; maxDirectoryLimit
// bounds what a client may ask for.
const (
	defaultDirectoryLimit = 10
	maxDirectoryLimit     = 1000
)

func (s *Server) registerUserDirectoryRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/user_directory/search", s.authed(s.postUserDirectorySearch))
}

// userDirectoryRequest is the body of POST /user_directory/search.
type userDirectoryRequest struct {
	SearchTerm *string `json:"search_term"`
	Limit      *int    `json:"limit"`
}

// directoryUserJSON is one result; display_name and avatar_url are left
// out when unset.
type directoryUserJSON struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// postUserDirectorySearch answers POST /_matrix/client/v3/user_directory/search.
func (s *Server) postUserDirectorySearch(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body userDirectoryRequest
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.SearchTerm == nil {
		return core.ErrMissingParam.WithMessage("search_term is required")
	}
	limit := defaultDirectoryLimit
	if body.Limit != nil {
		if *body.Limit < 0 {
			return core.ErrInvalidParam.WithMessage("limit must not be negative")
		}
		limit = min(*body.Limit, maxDirectoryLimit)
	}
	users, err := s.opts.UserDirectory.DirectoryUsers(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	found, limited := core.SearchDirectory(users, *body.SearchTerm, limit)
	results := make([]directoryUserJSON, len(found))
	for i, u := range found {
		results[i] = directoryUserJSON{UserID: u.UserID, DisplayName: u.DisplayName, AvatarURL: u.AvatarURL}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "limited": limited})
	return nil
}
