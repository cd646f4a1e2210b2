package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
)

// PDUService answers other servers' questions about rooms' events: the
// serving side of the PDU layer. *room.Federation implements it; each
// method applies the room's server ACL and the asking server's history
// visibility, and returns *core.Error values for what the asker did wrong.
type PDUService interface {
	ServeEvent(ctx context.Context, origin, eventID string) (json.RawMessage, error)
	ServeStateIDs(ctx context.Context, origin, roomID, eventID string) (pduIDs, authChainIDs []string, err error)
	ServeState(ctx context.Context, origin, roomID, eventID string) (pdus, authChain []json.RawMessage, err error)
	ServeEventAuth(ctx context.Context, origin, roomID, eventID string) ([]json.RawMessage, error)
	ServeBackfill(ctx context.Context, origin, roomID string, from []string, limit int) ([]json.RawMessage, error)
	ServeMissingEvents(ctx context.Context, origin, roomID string, earliest, latest []string, limit int, minDepth int64) ([]json.RawMessage, error)
	ServeTimestampToEvent(ctx context.Context, origin, roomID string, ts int64, dir core.Direction) (string, int64, error)
}

// registerPDUs adds the PDU layer's routes.
func (s *Server) registerPDUs() {
	s.handle("GET /_matrix/federation/v1/event/{eventID}", s.getEvent)
	s.handle("GET /_matrix/federation/v1/state/{roomID}", s.getState)
	s.handle("GET /_matrix/federation/v1/state_ids/{roomID}", s.getStateIDs)
	s.handle("GET /_matrix/federation/v1/event_auth/{roomID}/{eventID}", s.getEventAuth)
	s.handle("GET /_matrix/federation/v1/backfill/{roomID}", s.getBackfill)
	s.handle("POST /_matrix/federation/v1/get_missing_events/{roomID}", s.postMissingEvents)
	s.handle("GET /_matrix/federation/v1/timestamp_to_event/{roomID}", s.getTimestampToEvent)
}

// pduList is the shape of /event and /backfill answers (a transaction).
type pduList struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
}

func (s *Server) pduList(pdus []json.RawMessage) pduList {
	if pdus == nil {
		pdus = []json.RawMessage{}
	}
	return pduList{Origin: s.opts.ServerName, OriginServerTS: time.Now().UnixMilli(), PDUs: pdus}
}

func nonNil(l []json.RawMessage) []json.RawMessage {
	if l == nil {
		return []json.RawMessage{}
	}
	return l
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, origin string) error {
	ev, err := s.opts.PDUServe.ServeEvent(r.Context(), origin, r.PathValue("eventID"))
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, s.pduList([]json.RawMessage{ev}))
	return nil
}

// eventIDParam returns the required event_id query parameter.
func eventIDParam(r *http.Request) (string, error) {
	id := r.URL.Query().Get("event_id")
	if id == "" {
		return "", core.ErrMissingParam.WithMessage("event_id is required")
	}
	return id, nil
}

func (s *Server) getState(w http.ResponseWriter, r *http.Request, origin string) error {
	eventID, err := eventIDParam(r)
	if err != nil {
		return err
	}
	pdus, chain, err := s.opts.PDUServe.ServeState(r.Context(), origin, r.PathValue("roomID"), eventID)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"pdus": nonNil(pdus), "auth_chain": nonNil(chain)})
	return nil
}

func (s *Server) getStateIDs(w http.ResponseWriter, r *http.Request, origin string) error {
	eventID, err := eventIDParam(r)
	if err != nil {
		return err
	}
	ids, chain, err := s.opts.PDUServe.ServeStateIDs(r.Context(), origin, r.PathValue("roomID"), eventID)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	if chain == nil {
		chain = []string{}
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"pdu_ids": ids, "auth_chain_ids": chain})
	return nil
}

func (s *Server) getEventAuth(w http.ResponseWriter, r *http.Request, origin string) error {
	chain, err := s.opts.PDUServe.ServeEventAuth(r.Context(), origin, r.PathValue("roomID"), r.PathValue("eventID"))
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"auth_chain": nonNil(chain)})
	return nil
}

func (s *Server) getBackfill(w http.ResponseWriter, r *http.Request, origin string) error {
	q := r.URL.Query()
	from := q["v"]
	if len(from) == 0 {
		return core.ErrMissingParam.WithMessage("v (the events to backfill from) is required")
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 0 {
		return core.ErrInvalidParam.WithMessage("limit must be a non-negative integer")
	}
	pdus, err := s.opts.PDUServe.ServeBackfill(r.Context(), origin, r.PathValue("roomID"), from, limit)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, s.pduList(pdus))
	return nil
}

// missingEventsRequest is the body of POST /get_missing_events.
type missingEventsRequest struct {
	EarliestEvents []string `json:"earliest_events"`
	LatestEvents   []string `json:"latest_events"`
	Limit          *int     `json:"limit"`
	MinDepth       *int64   `json:"min_depth"`
}

func (s *Server) postMissingEvents(w http.ResponseWriter, r *http.Request, origin string) error {
	var req missingEventsRequest
	if err := matrixhttp.ReadJSONLimit(r, &req, MaxRequestBody); err != nil {
		return err
	}
	if req.EarliestEvents == nil || req.LatestEvents == nil {
		return core.ErrBadJSON.WithMessage("earliest_events and latest_events are required")
	}
	limit, minDepth := 10, int64(0)
	if req.Limit != nil {
		limit = max(*req.Limit, 0)
	}
	if req.MinDepth != nil {
		minDepth = *req.MinDepth
	}
	evs, err := s.opts.PDUServe.ServeMissingEvents(r.Context(), origin, r.PathValue("roomID"), req.EarliestEvents, req.LatestEvents, limit, minDepth)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"events": nonNil(evs)})
	return nil
}

func (s *Server) getTimestampToEvent(w http.ResponseWriter, r *http.Request, origin string) error {
	q := r.URL.Query()
	var dir core.Direction
	switch q.Get("dir") {
	case "f":
		dir = core.Forward
	case "b":
		dir = core.Backward
	default:
		return core.ErrInvalidParam.WithMessage("dir must be f or b")
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("ts must be an integer")
	}
	id, at, err := s.opts.PDUServe.ServeTimestampToEvent(r.Context(), origin, r.PathValue("roomID"), ts, dir)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"event_id": id, "origin_server_ts": at})
	return nil
}
