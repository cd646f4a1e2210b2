package storage

import (
	"context"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

var _ clientsync.TimestampStore = (*EventStore)(nil)

// The timestamp lookups walk events_room_timestamp (delta 2/60) from the
// time asked for, in the order they sort by, so LIMIT stops the walk.
const (
	sqlNearTimestampForward = selectEvents + `
	WHERE e.room_nid = ? AND ` + timelineVisible + ` AND e.origin_server_ts >= ?
	ORDER BY e.origin_server_ts ASC, e.topological_ordering ASC, e.stream_ordering ASC LIMIT ?`
	sqlNearTimestampBackward = selectEvents + `
	WHERE e.room_nid = ? AND ` + timelineVisible + ` AND e.origin_server_ts <= ?
	ORDER BY e.origin_server_ts DESC, e.topological_ordering DESC, e.stream_ordering DESC LIMIT ?`
)

// EventsNearTimestamp finds the events nearest a timestamp; see
// clientsync.TimestampStore.
func (s *EventStore) EventsNearTimestamp(ctx context.Context, roomID string, ts int64, dir core.Direction, limit int) ([]*core.StoredEvent, error) {
	query := sqlNearTimestampBackward
	if dir == core.Forward {
		query = sqlNearTimestampForward
	}
	var out []*core.StoredEvent
	err := s.read(ctx, []string{sqlRoomNID, query}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil || limit <= 0 {
			return err
		}
		out, err = queryEvents(r, query, room, ts, limit)
		return err
	})
	return out, err
}
