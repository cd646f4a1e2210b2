package web

import (
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
)

// registerKeyBackupRoutes serves server-side key backups.
func (s *Server) registerKeyBackupRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/room_keys/version", s.authed(s.postRoomKeysVersion))
	s.mux.HandleFunc("GET /_matrix/client/v3/room_keys/version", s.authed(s.getRoomKeysVersion))
	s.mux.HandleFunc("GET /_matrix/client/v3/room_keys/version/{version}", s.authed(s.getRoomKeysVersion))
	s.mux.HandleFunc("PUT /_matrix/client/v3/room_keys/version/{version}", s.authed(s.putRoomKeysVersion))
	s.mux.HandleFunc("DELETE /_matrix/client/v3/room_keys/version/{version}", s.authed(s.deleteRoomKeysVersion))
	for _, p := range []string{"", "/{roomId}", "/{roomId}/{sessionId}"} {
		s.mux.HandleFunc("PUT /_matrix/client/v3/room_keys/keys"+p, s.authed(s.putRoomKeys))
		s.mux.HandleFunc("GET /_matrix/client/v3/room_keys/keys"+p, s.authed(s.getRoomKeys))
		s.mux.HandleFunc("DELETE /_matrix/client/v3/room_keys/keys"+p, s.authed(s.deleteRoomKeys))
	}
}

// backupConfig is the body of POST and PUT /room_keys/version.
type backupConfig struct {
	Algorithm *string         `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Version   *string         `json:"version"`
}

// check validates the required algorithm and auth_data.
func (c *backupConfig) check() error {
	if c.Algorithm == nil || c.AuthData == nil {
		return core.ErrMissingParam.WithMessage("algorithm and auth_data are required")
	}
	if *c.Algorithm == "" {
		return core.ErrInvalidParam.WithMessage("algorithm must not be empty")
	}
	if c.AuthData[0] != '{' {
		return core.ErrBadJSON.WithMessage("auth_data must be an object")
	}
	return nil
}

// postRoomKeysVersion is POST /room_keys/version.
func (s *Server) postRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req backupConfig
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	v, err := s.opts.KeyBackups.CreateKeyBackup(r.Context(), sess.UserID, *req.Algorithm, req.AuthData)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": v})
	return nil
}

// getRoomKeysVersion is GET /room_keys/version[/{version}].
func (s *Server) getRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	info, err := s.opts.KeyBackups.KeyBackup(r.Context(), sess.UserID, r.PathValue("version"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// putRoomKeysVersion is PUT /room_keys/version/{version}: only auth_data
// may change.
func (s *Server) putRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	version := r.PathValue("version")
	var req backupConfig
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	if req.Version != nil && *req.Version != version {
		return core.ErrInvalidParam.WithMessage("version in the body does not match the path")
	}
	if err := s.opts.KeyBackups.UpdateKeyBackup(r.Context(), sess.UserID, version, *req.Algorithm, req.AuthData); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// deleteRoomKeysVersion is DELETE /room_keys/version/{version}.
func (s *Server) deleteRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if err := s.opts.KeyBackups.DeleteKeyBackup(r.Context(), sess.UserID, r.PathValue("version")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// keyBackupData is KeyBackupData as uploaded, with its required members.
type keyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

func (k keyBackupData) toCore(where string) (core.RoomKeyBackup, error) {
	if k.FirstMessageIndex == nil || k.ForwardedCount == nil || k.IsVerified == nil || k.SessionData == nil {
		return core.RoomKeyBackup{}, core.ErrBadJSON.WithMessage("%s needs first_message_index, forwarded_count, is_verified and session_data", where)
	}
	if k.SessionData[0] != '{' {
		return core.RoomKeyBackup{}, core.ErrBadJSON.WithMessage("%s: session_data must be an object", where)
	}
	return core.RoomKeyBackup{
		FirstMessageIndex: *k.FirstMessageIndex,
		ForwardedCount:    *k.ForwardedCount,
		IsVerified:        *k.IsVerified,
		SessionData:       k.SessionData,
	}, nil
}

type roomKeyBackupBody struct {
	Sessions map[string]keyBackupData `json:"sessions"`
}

// backupVersionParam returns the required version query parameter.
func backupVersionParam(r *http.Request) (string, error) {
	q := r.URL.Query()
	if !q.Has("version") {
		return "", core.ErrMissingParam.WithMessage("version is required")
	}
	return q.Get("version"), nil
}

// readRoomKeys reads the body of the three PUT /room_keys/keys forms into
// room ID → session ID → key.
func readRoomKeys(r *http.Request, roomID, sessionID string) (map[string]map[string]core.RoomKeyBackup, error) {
	out := map[string]map[string]core.RoomKeyBackup{}
	add := func(room, session string, k keyBackupData) error {
		ck, err := k.toCore("the key of " + room + " " + session)
		if err != nil {
			return err
		}
		if out[room] == nil {
			out[room] = map[string]core.RoomKeyBackup{}
		}
		out[room][session] = ck
		return nil
	}
	addRoom := func(room string, body roomKeyBackupBody) error {
		if body.Sessions == nil {
			return core.ErrBadJSON.WithMessage("sessions is required")
		}
		for session, k := range body.Sessions {
			if err := add(room, session, k); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case sessionID != "":
		var k keyBackupData
		if err := readJSON(r, &k); err != nil {
			return nil, err
		}
		return out, add(roomID, sessionID, k)
	case roomID != "":
		var body roomKeyBackupBody
		if err := readJSON(r, &body); err != nil {
			return nil, err
		}
		return out, addRoom(roomID, body)
	}
	var body struct {
		Rooms map[string]roomKeyBackupBody `json:"rooms"`
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	if body.Rooms == nil {
		return nil, core.ErrBadJSON.WithMessage("rooms is required")
	}
	for room, rb := range body.Rooms {
		if err := addRoom(room, rb); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// putRoomKeys is PUT /room_keys/keys[/{roomId}[/{sessionId}]].
func (s *Server) putRoomKeys(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	version, err := backupVersionParam(r)
	if err != nil {
		return err
	}
	keys, err := readRoomKeys(r, r.PathValue("roomId"), r.PathValue("sessionId"))
	if err != nil {
		return err
	}
	count, etag, err := s.opts.KeyBackups.PutRoomKeys(r.Context(), sess.UserID, version, keys)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": count, "etag": etag})
	return nil
}

// getRoomKeys is GET /room_keys/keys[/{roomId}[/{sessionId}]].
func (s *Server) getRoomKeys(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	version, err := backupVersionParam(r)
	if err != nil {
		return err
	}
	roomID, sessionID := r.PathValue("roomId"), r.PathValue("sessionId")
	keys, err := s.opts.KeyBackups.RoomKeys(r.Context(), sess.UserID, version, roomID, sessionID)
	if err != nil {
		return err
	}
	type roomBody struct {
		Sessions map[string]core.RoomKeyBackup `json:"sessions"`
	}
	switch {
	case sessionID != "":
		k, ok := keys[roomID][sessionID]
		if !ok {
			return core.ErrNotFound.WithMessage("Key not found")
		}
		writeJSON(w, http.StatusOK, k)
	case roomID != "":
		sessions := keys[roomID]
		if sessions == nil {
			sessions = map[string]core.RoomKeyBackup{}
		}
		writeJSON(w, http.StatusOK, roomBody{Sessions: sessions})
	default:
		rooms := map[string]roomBody{}
		for room, sessions := range keys {
			rooms[room] = roomBody{Sessions: sessions}
		}
		writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
	}
	return nil
}

// deleteRoomKeys is DELETE /room_keys/keys[/{roomId}[/{sessionId}]].
func (s *Server) deleteRoomKeys(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	version, err := backupVersionParam(r)
	if err != nil {
		return err
	}
	count, etag, err := s.opts.KeyBackups.DeleteRoomKeys(r.Context(), sess.UserID, version, r.PathValue("roomId"), r.PathValue("sessionId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": count, "etag": etag})
	return nil
}
