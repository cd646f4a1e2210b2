package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// registerAccountDataRoutes serves account data and room tags.
func (s *Server) registerAccountDataRoutes() {
	const user = "/_matrix/client/v3/user/{userId}"
	s.mux.HandleFunc("GET "+user+"/account_data/{type}", s.authed(s.getAccountData))
	s.mux.HandleFunc("PUT "+user+"/account_data/{type}", s.authed(s.putAccountData))
	s.mux.HandleFunc("GET "+user+"/rooms/{roomId}/account_data/{type}", s.authed(s.getAccountData))
	s.mux.HandleFunc("PUT "+user+"/rooms/{roomId}/account_data/{type}", s.authed(s.putAccountData))
	s.mux.HandleFunc("GET "+user+"/rooms/{roomId}/tags", s.authed(s.getRoomTags))
	s.mux.HandleFunc("PUT "+user+"/rooms/{roomId}/tags/{tag}", s.authed(s.putRoomTag))
	s.mux.HandleFunc("DELETE "+user+"/rooms/{roomId}/tags/{tag}", s.authed(s.deleteRoomTag))
}

// ownData checks that the path's user is the session's and that its room
// (for a route with {roomId}) is a valid room ID; it returns the room ID
// ("" for global data).
func ownData(r *http.Request, sess *core.Session) (string, error) {
	if r.PathValue("userId") != sess.UserID {
		return "", core.ErrForbidden.WithMessage("You cannot access another user's account data")
	}
	if !strings.Contains(r.Pattern, "{roomId}") {
		return "", nil
	}
	roomID := r.PathValue("roomId")
	if _, err := id.ParseRoomID(roomID); err != nil {
		return "", core.ErrInvalidParam.WithMessage("%s is not a valid room ID", roomID)
	}
	return roomID, nil
}

// getAccountData answers GET .../account_data/{type}, global or per room.
func (s *Server) getAccountData(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := ownData(r, sess)
	if err != nil {
		return err
	}
	c, err := s.opts.AccountData.AccountData(r.Context(), sess.UserID, roomID, r.PathValue("type"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// putAccountData answers PUT .../account_data/{type}: any JSON object, but
// not the types the server manages (405 M_BAD_JSON).
func (s *Server) putAccountData(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := ownData(r, sess)
	if err != nil {
		return err
	}
	typ := r.PathValue("type")
	if core.ServerManagedAccountData(typ) {
		return core.ErrBadJSON.WithStatus(http.StatusMethodNotAllowed).WithMessage("Cannot set %s through this API", typ)
	}
	var body map[string]json.RawMessage
	raw, err := readJSONObject(r, &body)
	if err != nil {
		return err
	}
	if _, err := s.opts.AccountData.SetAccountData(r.Context(), sess.UserID, roomID, typ, raw); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// readJSONObject reads a body that must be a JSON object into v and also
// returns it compacted.
func readJSONObject(r *http.Request, v *map[string]json.RawMessage) (json.RawMessage, error) {
	if err := readJSON(r, v); err != nil {
		return nil, err
	}
	if *v == nil {
		return nil, core.ErrBadJSON.WithMessage("Content must be a JSON object")
	}
	raw, err := json.Marshal(*v)
	if err != nil {
		return nil, core.ErrBadJSON.WithMessage("Content must be a JSON object")
	}
	return raw, nil
}
