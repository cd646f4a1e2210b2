package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// registerProfileRoutes serves the profile API.
// Reading a profile needs no access token.
func (s *Server) registerProfileRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/profile/{userId}", public(s.getProfile))
	s.mux.HandleFunc("GET /_matrix/client/v3/profile/{userId}/{keyName}", public(s.getProfileField))
	s.mux.HandleFunc("PUT /_matrix/client/v3/profile/{userId}/{keyName}", s.authed(s.putProfileField))
	s.mux.HandleFunc("DELETE /_matrix/client/v3/profile/{userId}/{keyName}", s.authed(s.deleteProfileField))
}

// profileKey says key is a profile field name by profile.yaml's grammar:
// avatar_url, displayname, m.tz, or two or more dot-separated parts of
// [a-z][a-z0-9_]* (a namespaced name).
func profileKey(key string) bool {
	switch key {
	case "avatar_url", "displayname", "m.tz":
		return true
	}
	parts := strings.Split(key, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || p[0] < 'a' || p[0] > 'z' {
			return false
		}
		for _, c := range []byte(p[1:]) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
				return false
			}
		}
	}
	return true
}

var errProfileNotFound = core.ErrNotFound.WithMessage("Profile not found")

// localProfile returns the profile of the user named in the path: a
// remote user's from their server (query/profile), M_NOT_FOUND for local
// users who have no account and no profile.
func (s *Server) localProfile(r *http.Request) (map[string]json.RawMessage, error) {
	uid, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return nil, core.ErrInvalidParam.WithMessage("invalid user ID")
	}
	if string(uid.ServerName()) != s.opts.ServerName {
		if s.opts.RemoteRooms == nil {
			return nil, errProfileNotFound
		}
		return s.opts.RemoteRooms.RemoteProfile(r.Context(), string(uid), r.PathValue("keyName"))
	}
	fields, err := s.opts.Profiles.Profile(r.Context(), string(uid))
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		if _, err := s.opts.Accounts.Account(r.Context(), string(uid)); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				// An application service may hold the user: asked, it
				// creates it.
				if !s.appServiceKnowsUser(r, string(uid)) {
					return nil, errProfileNotFound
				}
				return s.opts.Profiles.Profile(r.Context(), string(uid))
			}
			return nil, err
		}
	}
	return fields, nil
}

// getProfile answers GET /profile/{userId}.
func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) error {
	fields, err := s.localProfile(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fields)
	return nil
}

// getProfileField answers GET /profile/{userId}/{keyName}.
func (s *Server) getProfileField(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("keyName")
	if !profileKey(key) {
		return core.ErrInvalidParam.WithMessage("Invalid profile key")
	}
	fields, err := s.localProfile(r)
	if err != nil {
		return err
	}
	v, ok := fields[key]
	if !ok {
		return core.ErrNotFound.WithMessage("Profile field not found")
	}
	writeJSON(w, http.StatusOK, map[string]json.RawMessage{key: v})
	return nil
}

// profileWriter checks that the session may change the profile in the
// path and that the key is valid, and returns both.
func (s *Server) profileWriter(r *http.Request, sess *core.Session) (userID, key string, err error) {
	userID, key = r.PathValue("userId"), r.PathValue("keyName")
	if userID != sess.UserID {
		return "", "", core.ErrForbidden.WithMessage("You cannot change another user's profile")
	}
	if len(key) > core.MaxProfileKeyLen {
		return "", "", core.ErrKeyTooLarge
	}
	if !profileKey(key) {
		return "", "", core.ErrInvalidParam.WithMessage("Invalid profile key")
	}
	return userID, key, nil
}

// putProfileField answers PUT /profile/{userId}/{keyName}: the body holds
// exactly the one field. displayname, avatar_url and m.tz must be strings
// (avatar_url an mxc:// URI, or "" to clear it); custom fields take any
// JSON value.
func (s *Server) putProfileField(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	userID, key, err := s.profileWriter(r, sess)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := readJSON(r, &body); err != nil {
		return err
	}
	v, ok := body[key]
	if !ok {
		return core.ErrMissingParam.WithMessage("The body needs the field %s", key)
	}
	if len(body) != 1 {
		return core.ErrBadJSON.WithMessage("The body must hold only the field %s", key)
	}
	if err := s.opts.ProfileUpdates.SetField(r.Context(), userID, key, compactJSON(v)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// deleteProfileField answers DELETE /profile/{userId}/{keyName}.
func (s *Server) deleteProfileField(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	userID, key, err := s.profileWriter(r, sess)
	if err != nil {
		return err
	}
	if err := s.opts.ProfileUpdates.DeleteField(r.Context(), userID, key); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// compactJSON removes insignificant space from valid JSON.
func compactJSON(v json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return v
	}
	return buf.Bytes()
}
