package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// registerNotificationRoutes serves GET /notifications; the events are
// formatted by the room pipeline.
func (s *Server) registerNotificationRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/notifications", s.authed(s.getNotifications))
}

// pipelineEvents formats events for GET /notifications through the room
// pipeline: the events userID may see, redactions applied, without room_id
// (the notification carries it).
func (s *Server) pipelineEvents(ctx context.Context, userID string, ids []string) (map[string]json.RawMessage, error) {
	byID, err := s.opts.Rooms.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	evs := make([]*room.Event, 0, len(byID))
	for _, id := range ids {
		if e := byID[id]; e != nil {
			evs = append(evs, e)
		}
	}
	if evs, err = s.opts.Rooms.FilterVisible(ctx, userID, evs); err != nil {
		return nil, err
	}
	js, err := s.opts.Rooms.ClientEvents(ctx, evs, room.ClientFormat{Now: s.opts.Now().UnixMilli(), UserID: userID, OmitRoomID: true})
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(evs))
	for i, e := range evs {
		out[e.Stored.EventID] = js[i]
	}
	return out, nil
}

// getNotifications answers GET /notifications: from (a next_token), limit
// and only=highlight. Events the user may no longer see (redacted away,
// purged) are left out.
func (s *Server) getNotifications(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	q := r.URL.Query()
	var from int64
	if f := q.Get("from"); f != "" {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return core.ErrInvalidParam.WithMessage("invalid from token")
		}
		from = n
	}
	limit := 20
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return core.ErrInvalidParam.WithMessage("invalid limit")
		}
		limit = min(max(n, 1), 100)
	}
	list, next, err := s.opts.Notifications.Notifications(r.Context(), sess.UserID, from, limit, q.Get("only"))
	if err != nil {
		return err
	}
	ids := make([]string, len(list))
	for i, n := range list {
		ids[i] = n.EventID
	}
	events, err := s.pipelineEvents(r.Context(), sess.UserID, ids)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, n := range list {
		ev, ok := events[n.EventID]
		if !ok {
			continue
		}
		item := map[string]any{"actions": n.Actions, "event": ev, "read": n.Read, "room_id": n.RoomID, "ts": n.TS}
		if n.ProfileTag != "" {
			item["profile_tag"] = n.ProfileTag
		}
		out = append(out, item)
	}
	resp := map[string]any{"notifications": out}
	if next != 0 {
		resp["next_token"] = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
