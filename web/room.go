package web

import (
	"bytes"
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// registerRoomRoutes serves rooms: creation, memberships, sending events,
// state, single events, aliases and the room directory, and the admin view
// of events.
func (s *Server) registerRoomRoutes() {
	s.registerCreateRoomRoutes()
	s.registerMembershipRoutes()
	s.registerSendRoutes()
	s.registerStateRoutes()
	s.registerDirectoryRoutes()
	s.registerHierarchyRoutes()
	s.registerAdminEventRoutes()
	s.mux.HandleFunc("POST /_matrix/client/v3/rooms/{roomId}/upgrade", s.authed(s.postUpgrade))
}

// clientFormat is how events are written for the client of sess.
func (s *Server) clientFormat(sess *core.Session) room.ClientFormat {
	f := room.ClientFormat{Now: s.opts.Now().UnixMilli()}
	if sess != nil {
		f.UserID, f.DeviceID = sess.UserID, sess.DeviceID
	}
	return f
}

// readObject reads a request body that must be a JSON object, kept as it
// was sent (event content).
func readObject(r *http.Request) (json.RawMessage, error) {
	body, err := readJSONBody(r)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, core.ErrBadJSON.WithMessage("the body must be a JSON object")
	}
	return body, nil
}

// empty is the {} most write endpoints answer with.
var empty = struct{}{}
