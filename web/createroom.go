package web

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

func (s *Server) registerCreateRoomRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/createRoom", s.authed(s.postCreateRoom))
}

// postCreateRoom is POST /createRoom.
func (s *Server) postCreateRoom(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req room.CreateRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	req.Creator = sess.UserID
	create := s.opts.Rooms.CreateRoom
	if s.opts.RemoteRooms != nil {
		create = s.opts.RemoteRooms.CreateRoom // invitees on other servers too
	}
	roomID, err := create(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
	return nil
}
