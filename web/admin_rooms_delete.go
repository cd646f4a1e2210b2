package web

import (
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/adminroom"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/matrixhttp"
)

// Deleting a room (Synapse's Delete Room API): the workflow and its task
// registry are core/adminroom's; these handlers read the request and
// answer.

// parseDeleteRoom reads a delete request: the room ID and the body.
func parseDeleteRoom(r *http.Request) (string, adminroom.Request, error) {
	var body adminroom.Request
	roomID, err := adminRoomID(r, "roomId")
	if err != nil {
		return "", body, err
	}
	// Synapse insists on a body, at least {}.
	raw, err := matrixhttp.ReadBody(r, maxJSONBody)
	if err != nil {
		return "", body, err
	}
	if len(raw) == 0 {
		return "", body, core.ErrNotJSON.WithMessage("The body must be a JSON object, at least {}")
	}
	if err := matrixhttp.CheckJSON(raw); err != nil {
		return "", body, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", body, core.ErrBadJSON.WithMessage("%s", describeJSONError(err))
	}
	return roomID, body, nil
}

// deleteAdminRoomV2 answers DELETE /_synapse/admin/v2/rooms/{roomId}: it
// starts the delete and answers its delete_id.
func (s *Server) deleteAdminRoomV2(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, body, err := parseDeleteRoom(r)
	if err != nil {
		return err
	}
	deleteID, err := s.opts.RoomDeletes.Start(r.Context(), sess.UserID, roomID, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"delete_id": deleteID})
	return nil
}

// deleteAdminRoomV1 answers DELETE /_synapse/admin/v1/rooms/{roomId}: the
// same delete, answered once it is done.
func (s *Server) deleteAdminRoomV1(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, body, err := parseDeleteRoom(r)
	if err != nil {
		return err
	}
	res, err := s.opts.RoomDeletes.Delete(r.Context(), sess.UserID, roomID, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// getAdminRoomDeleteStatus answers GET /_synapse/admin/v2/rooms/{roomId}/
// delete_status and GET /_synapse/admin/v2/rooms/delete_status/{deleteId}.
func (s *Server) getAdminRoomDeleteStatus(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	first, second := r.PathValue("first"), r.PathValue("second")
	switch {
	case first == "delete_status":
		st, ok := s.opts.RoomDeletes.Status(second)
		if !ok {
			return core.ErrNotFound.WithMessage("delete id '%s' not found", second)
		}
		writeJSON(w, http.StatusOK, st)
	case second == "delete_status":
		if _, err := id.ParseRoomID(first); err != nil {
			return core.ErrInvalidParam.WithMessage("%q is not a legal room ID", first)
		}
		results := s.opts.RoomDeletes.RoomStatus(first)
		if len(results) == 0 {
			return core.ErrNotFound.WithMessage("No delete task for room_id '%s' found", first)
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": results})
	default:
		return core.ErrUnrecognized.WithMessage("Unrecognized request")
	}
	return nil
}
