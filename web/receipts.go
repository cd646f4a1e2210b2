package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// registerReceiptRoutes serves receipts and read markers.
func (s *Server) registerReceiptRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}", s.authed(s.postReceipt))
	s.mux.HandleFunc("POST /_matrix/client/v3/rooms/{roomId}/read_markers", s.authed(s.postReadMarkers))
}

// joinedRoom checks that the path's room is a room ID the session's user is
// joined to: M_FORBIDDEN otherwise.
func (s *Server) joinedRoom(r *http.Request, sess *core.Session) (string, error) {
	roomID := r.PathValue("roomId")
	if _, err := id.ParseRoomID(roomID); err != nil {
		return "", core.ErrInvalidParam.WithMessage("%s is not a valid room ID", roomID)
	}
	ok, err := s.opts.IsJoined(r.Context(), sess.UserID, roomID)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", core.ErrForbidden.WithMessage("You are not in this room")
	}
	return roomID, nil
}

// postReceipt answers POST /rooms/{roomId}/receipt/{receiptType}/{eventId}:
// m.read and m.read.private (threaded with thread_id), or m.fully_read,
// which moves the read marker as /read_markers does.
func (s *Server) postReceipt(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := s.joinedRoom(r, sess)
	if err != nil {
		return err
	}
	typ, eventID := r.PathValue("receiptType"), r.PathValue("eventId")
	if typ != core.ReceiptRead && typ != core.ReceiptReadPrivate && typ != core.ReceiptFullyRead {
		return core.ErrInvalidParam.WithMessage("Unknown receipt type %q", typ)
	}
	if !strings.HasPrefix(eventID, "$") {
		return core.ErrInvalidParam.WithMessage("Invalid event ID")
	}
	var body map[string]json.RawMessage
	if err := readJSON(r, &body); err != nil {
		return err
	}
	thread := ""
	if raw, ok := body["thread_id"]; ok {
		if json.Unmarshal(raw, &thread) != nil || thread == "" {
			return core.ErrInvalidParam.WithMessage("thread_id field must be a non-empty string")
		}
		if typ == core.ReceiptFullyRead {
			return core.ErrInvalidParam.WithMessage("thread_id is not allowed for m.fully_read")
		}
		if thread != core.ThreadMain && !strings.HasPrefix(thread, "$") {
			return core.ErrInvalidParam.WithMessage("thread_id must be main or a thread root's event ID")
		}
	}
	if typ == core.ReceiptFullyRead {
		err = s.setFullyRead(r, sess, roomID, eventID)
	} else {
		err = s.setReceipt(r, sess, roomID, typ, eventID, thread)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) setReceipt(r *http.Request, sess *core.Session, roomID, typ, eventID, thread string) error {
	_, err := s.opts.Receipts.SetReceipt(r.Context(), core.Receipt{
		RoomID: roomID, UserID: sess.UserID, Type: typ, EventID: eventID, ThreadID: thread,
		TS: s.opts.Now().UnixMilli(),
	})
	return err
}

func (s *Server) setFullyRead(r *http.Request, sess *core.Session, roomID, eventID string) error {
	_, err := s.opts.Receipts.SetFullyRead(r.Context(), sess.UserID, roomID, eventID)
	return err
}

// postReadMarkers answers POST /rooms/{roomId}/read_markers: any of
// m.fully_read, m.read and m.read.private, each an event ID of the room.
func (s *Server) postReadMarkers(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := s.joinedRoom(r, sess)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body == nil {
		return core.ErrBadJSON.WithMessage("The body must be a JSON object")
	}
	marks := map[string]string{}
	for _, k := range []string{core.ReceiptFullyRead, core.ReceiptRead, core.ReceiptReadPrivate} {
		raw, ok := body[k]
		if !ok || string(raw) == "null" {
			continue
		}
		var ev string
		if json.Unmarshal(raw, &ev) != nil || !strings.HasPrefix(ev, "$") {
			return core.ErrBadJSON.WithMessage("%s must be an event ID", k)
		}
		marks[k] = ev
	}
	if ev, ok := marks[core.ReceiptFullyRead]; ok {
		if err := s.setFullyRead(r, sess, roomID, ev); err != nil {
			return err
		}
	}
	for _, typ := range []string{core.ReceiptRead, core.ReceiptReadPrivate} {
		if ev, ok := marks[typ]; ok {
			if err := s.setReceipt(r, sess, roomID, typ, ev, ""); err != nil {
				return err
			}
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
