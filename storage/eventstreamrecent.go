package storage

import (
	"context"
	"fmt"

	"hearth.dev/hearth/core"
)

// sqlStreamEvents lists the timeline events of every room in a stream
// range, and the out-of-band memberships (outliers) among the others,
// newest first, through the stream_ordering unique index: what moved since
// a position, without touching the rooms that did not.
const sqlStreamEvents = `
	SELECT r.room_id, e.type, e.stream_ordering, (` + timelineVisible + `) FROM events e
	JOIN rooms r ON r.room_nid = e.room_nid
	WHERE e.stream_ordering > ? AND e.stream_ordering <= ?
		AND (` + timelineVisible + ` OR e.type = 'm.room.member')
	ORDER BY e.stream_ordering DESC LIMIT ?`

// StreamEvents returns the events of all rooms with from < stream ordering
// <= to, newest first, at most limit, as positions only; see
// core.StreamEvent.
func (s *EventStore) StreamEvents(ctx context.Context, from, to int64, limit int) ([]core.StreamEvent, error) {
	var out []core.StreamEvent
	if limit <= 0 || from >= to {
		return out, nil
	}
	err := s.read(ctx, []string{sqlStreamEvents}, func(r reader) error {
		rows, err := r.query(sqlStreamEvents, from, to, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e core.StreamEvent
			if err := rows.Scan(&e.RoomID, &e.Type, &e.StreamOrdering, &e.Timeline); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: stream events: %w", err)
	}
	return out, nil
}
