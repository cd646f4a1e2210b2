package web

import (
	"bytes"
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
)

func (s *Server) registerAdminEventRoutes() {
	s.mux.HandleFunc("GET /_hearth/admin/v1/events/{eventId}", s.authed(s.getAdminEvent))
}

// adminEvent is the admin view of a stored event.
type adminEvent struct {
	// PDU is the event exactly as stored and sent over federation, with
	// its hashes and signatures.
	PDU            json.RawMessage `json:"pdu"`
	EventID        string          `json:"event_id"`
	RoomID         string          `json:"room_id"`
	RoomVersion    string          `json:"room_version"`
	StreamOrdering int64           `json:"stream_ordering"`
	Depth          int64           `json:"depth"`
	Outlier        bool            `json:"outlier"`
	SoftFailed     bool            `json:"soft_failed"`
	StateGroup     int64           `json:"state_group"`
	Rejected       *string         `json:"rejected"`
}

// getAdminEvent is GET /_hearth/admin/v1/events/{eventId}, for admins.
func (s *Server) getAdminEvent(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if !sess.IsAdmin {
		return core.ErrForbidden.WithMessage("this is an admin endpoint")
	}
	ev, err := s.opts.Rooms.Event(r.Context(), r.PathValue("eventId"))
	if err != nil {
		return err
	}
	st := ev.Stored
	out := adminEvent{
		PDU: st.JSON, EventID: st.EventID, RoomID: st.RoomID, RoomVersion: st.RoomVersion,
		StreamOrdering: st.StreamOrdering, Depth: st.Depth, Outlier: st.Outlier,
		SoftFailed: st.SoftFailed, StateGroup: st.StateGroup,
	}
	if st.Rejected != "" {
		out.Rejected = &st.Rejected
	}
	// Without HTML escaping, so the pdu keeps its bytes.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
	return nil
}
