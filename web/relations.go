package web

import (
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func (s *Server) registerRelationsRoutes() {
	const p = "GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}"
	s.mux.HandleFunc(p, s.authed(s.getRelations))
	s.mux.HandleFunc(p+"/{relType}", s.authed(s.getRelations))
	s.mux.HandleFunc(p+"/{relType}/{eventType}", s.authed(s.getRelations))
}

// getRelations is GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
func (s *Server) getRelations(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	req := clientsync.RelationsRequest{
		Viewer: viewer(sess), RoomID: r.PathValue("roomId"), EventID: r.PathValue("eventId"),
		RelType: r.PathValue("relType"), EventType: r.PathValue("eventType"),
	}
	var err error
	if req.Dir, err = clientsync.ParseDirection(r.URL.Query().Get("dir"), core.Backward); err != nil {
		return err
	}
	if req.From, err = queryPageToken(r, "from"); err != nil {
		return err
	}
	if req.To, err = queryPageToken(r, "to"); err != nil {
		return err
	}
	if req.Limit, err = queryLimit(r); err != nil {
		return err
	}
	if req.Recurse, err = queryBool(r, "recurse", false); err != nil {
		return err
	}
	resp, err := s.opts.Timeline.Relations(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// withAggregations adds the bundled aggregations to ev, formatted for
// sess (GET /rooms/{roomId}/event/{eventId} returns them too).
func (s *Server) withAggregations(r *http.Request, sess *core.Session, ev *core.StoredEvent, formatted json.RawMessage) (json.RawMessage, error) {
	return s.opts.Timeline.BundleEvent(r.Context(), viewer(sess), ev, formatted)
}
