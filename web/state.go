package web

import (
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

func (s *Server) registerStateRoutes() {
	const p = "/_matrix/client/v3/rooms/{roomId}"
	s.mux.HandleFunc("GET "+p+"/state", s.authed(s.getState))
	// The state key may be empty, with or without the trailing slash.
	s.mux.HandleFunc("GET "+p+"/state/{eventType}", s.authed(s.getStateEvent))
	s.mux.HandleFunc("GET "+p+"/state/{eventType}/{stateKey...}", s.authed(s.getStateEvent))
	s.mux.HandleFunc("PUT "+p+"/state/{eventType}", s.authed(s.putState))
	s.mux.HandleFunc("PUT "+p+"/state/{eventType}/{stateKey...}", s.authed(s.putState))
	s.mux.HandleFunc("GET "+p+"/event/{eventId}", s.authed(s.getEvent))
}

// getState is GET /rooms/{roomId}/state.
func (s *Server) getState(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	evs, err := s.opts.Rooms.RoomState(r.Context(), r.PathValue("roomId"), sess.UserID)
	if err != nil {
		return err
	}
	out, err := s.opts.Rooms.ClientEvents(r.Context(), evs, s.clientFormat(sess))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getStateEvent is GET /rooms/{roomId}/state/{eventType}/{stateKey}: the
// content, or with ?format=event the whole client event.
func (s *Server) getStateEvent(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "content" && format != "event" {
		return core.ErrInvalidParam.WithMessage("format must be content or event")
	}
	key := core.StateKey{Type: r.PathValue("eventType"), StateKey: r.PathValue("stateKey")}
	ev, err := s.opts.Rooms.StateEvent(r.Context(), r.PathValue("roomId"), sess.UserID, key)
	if err != nil {
		return err
	}
	out, err := s.opts.Rooms.ClientEvents(r.Context(), []*room.Event{ev}, s.clientFormat(sess))
	if err != nil {
		return err
	}
	if format == "event" {
		writeJSON(w, http.StatusOK, out[0])
		return nil
	}
	var ce struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(out[0], &ce); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ce.Content)
	return nil
}

// putState is PUT /rooms/{roomId}/state/{eventType}/{stateKey}.
func (s *Server) putState(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	content, err := readObject(r)
	if err != nil {
		return err
	}
	ts, err := s.massagedTimestamp(r)
	if err != nil {
		return err
	}
	stateKey := r.PathValue("stateKey")
	id, err := s.opts.Rooms.SendState(r.Context(), r.PathValue("roomId"), room.Proto{
		Type: r.PathValue("eventType"), StateKey: &stateKey, Sender: sess.UserID, Content: content, Timestamp: ts,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"event_id": id})
	return nil
}

// getEvent is GET /rooms/{roomId}/event/{eventId}: M_NOT_FOUND for an
// event the user may not see, as for one that does not exist.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	ev, err := s.opts.Rooms.VisibleEvent(r.Context(), r.PathValue("roomId"), sess.UserID, r.PathValue("eventId"))
	if err != nil {
		return err
	}
	out, err := s.opts.Rooms.ClientEvents(r.Context(), []*room.Event{ev}, s.clientFormat(sess))
	if err != nil {
		return err
	}
	// The spec asks for bundled aggregations (edits, threads,
	// references) on a single event too.
	bundled, err := s.withAggregations(r, sess, ev.Stored, out[0])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bundled)
	return nil
}
