package web

import (
	"errors"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

func (s *Server) registerSendRoutes() {
	const p = "/_matrix/client/v3"
	s.mux.HandleFunc("PUT "+p+"/rooms/{roomId}/send/{eventType}/{txnId}", s.authed(s.putSend))
	s.mux.HandleFunc("PUT "+p+"/rooms/{roomId}/redact/{eventId}/{txnId}", s.authed(s.putRedact))
}

// txnOf is the client transaction of a request: per device, as the spec
// scopes transaction IDs to the access token's device.
func txnOf(sess *core.Session, txnID string) *core.TxnID {
	return &core.TxnID{UserID: sess.UserID, DeviceID: sess.DeviceID, TxnID: txnID}
}

// putSend is PUT /rooms/{roomId}/send/{eventType}/{txnId}: the same
// transaction from the same device returns the same event ID.
func (s *Server) putSend(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	content, err := readObject(r)
	if err != nil {
		return err
	}
	ts, err := s.massagedTimestamp(r)
	if err != nil {
		return err
	}
	roomID := r.PathValue("roomId")
	id, err := s.opts.Rooms.Send(r.Context(), roomID, room.Proto{
		Type: r.PathValue("eventType"), Sender: sess.UserID, Content: content, Timestamp: ts,
	}, txnOf(sess, r.PathValue("txnId")))
	if err != nil {
		return notInRoomIfUnknown(err, roomID)
	}
	writeJSON(w, http.StatusOK, map[string]string{"event_id": id})
	return nil
}

// putRedact is PUT /rooms/{roomId}/redact/{eventId}/{txnId}.
func (s *Server) putRedact(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	id, err := s.opts.Rooms.Redact(r.Context(), r.PathValue("roomId"), sess.UserID, r.PathValue("eventId"),
		body.Reason, txnOf(sess, r.PathValue("txnId")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"event_id": id})
	return nil
}

// notInRoomIfUnknown answers a write to a room the server does not know as
// to a room the user is not in, so the two cannot be told apart.
func notInRoomIfUnknown(err error, roomID string) error {
	var me *core.Error
	if errors.As(err, &me) && me.ErrCode == core.ErrNotFound.ErrCode {
		return core.ErrForbidden.WithMessage("you are not in room %s", roomID)
	}
	return err
}
