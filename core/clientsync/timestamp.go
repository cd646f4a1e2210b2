package clientsync

import (
	"context"

	"hearth.dev/hearth/core"
)

// TimestampStore finds a room's events by their origin_server_ts.
type TimestampStore interface {
	// EventsNearTimestamp returns at most limit timeline events of roomID
	// nearest to ts in direction dir: for core.Forward those with
	// origin_server_ts >= ts, earliest first; for core.Backward those with
	// origin_server_ts <= ts, latest first (ties in topological order). It
	// returns an error wrapping core.ErrNotFound for an unknown room.
	EventsNearTimestamp(ctx context.Context, roomID string, ts int64, dir core.Direction, limit int) ([]*core.StoredEvent, error)
}

// TimestampResponse is the response of /timestamp_to_event.
type TimestampResponse struct {
	EventID        string `json:"event_id"`
	OriginServerTS int64  `json:"origin_server_ts"`
}

// timestampCandidates is how many events /timestamp_to_event examines
// for one the user may see.
const timestampCandidates = 100

// EventAtTimestamp answers /rooms/{roomId}/timestamp_to_event: the
// closest event to ts in direction dir that viewer may see.
func (s *Service) EventAtTimestamp(ctx context.Context, viewer Viewer, roomID string, ts int64, dir core.Direction) (*TimestampResponse, error) {
	if s.stores.Timestamps == nil {
		return nil, core.ErrUnrecognized.WithMessage("timestamp lookups are not supported by this server")
	}
	if err := s.checkReader(ctx, roomID, viewer.UserID); err != nil {
		return nil, err
	}
	evs, err := s.stores.Timestamps.EventsNearTimestamp(ctx, roomID, ts, dir, timestampCandidates)
	if err != nil {
		return nil, err
	}
	vis, err := s.visible(ctx, viewer.UserID, evs)
	if err != nil {
		return nil, err
	}
	if len(vis) > 0 {
		return &TimestampResponse{EventID: vis[0].EventID, OriginServerTS: vis[0].OriginServerTS}, nil
	}
	word := "backward"
	if dir == core.Forward {
		word = "forward"
	}
	return nil, core.ErrNotFound.WithMessage("Unable to find event from %d in %s direction", ts, word)
}
