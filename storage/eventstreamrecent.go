package storage

import (
	"context"
	"database/sql"
	"encoding/json"
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

// sqlBumpStamps finds, for each room of a JSON array of room IDs, the
// stream ordering of its newest timeline event of one of the types of a
// JSON array with ?2 < stream_ordering <= ?3, walking events_room_stream
// backward; rooms without one give NULL.
const sqlBumpStamps = `
	WITH wanted(room_nid, room_id) AS (
		SELECT room_nid, room_id FROM rooms WHERE room_id IN (SELECT value FROM json_each(?1))
	)
	SELECT w.room_id, (
		SELECT x.stream_ordering FROM events x
		WHERE x.room_nid = w.room_nid AND x.outlier = 0 AND x.rejection_reason IS NULL AND x.soft_failed = 0
			AND x.stream_ordering > ?2 AND x.stream_ordering <= ?3
			AND x.type IN (SELECT value FROM json_each(?4))
		ORDER BY x.stream_ordering DESC LIMIT 1
	) FROM wanted w`

// BumpStamps returns, for each of roomIDs with a timeline event of one of
// types at from < stream ordering <= to, the stream ordering of the
// newest; the other rooms are absent.
func (s *EventStore) BumpStamps(ctx context.Context, roomIDs, types []string, from, to int64) (map[string]int64, error) {
	out := map[string]int64{}
	if len(roomIDs) == 0 || len(types) == 0 || from >= to {
		return out, nil
	}
	rooms, err := json.Marshal(roomIDs)
	if err != nil {
		return nil, err
	}
	ts, err := json.Marshal(types)
	if err != nil {
		return nil, err
	}
	err = s.read(ctx, []string{sqlBumpStamps}, func(r reader) error {
		rows, err := r.query(sqlBumpStamps, string(rooms), from, to, string(ts))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var stamp sql.NullInt64
			if err := rows.Scan(&id, &stamp); err != nil {
				return err
			}
			if stamp.Valid {
				out[id] = stamp.Int64
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: bump stamps: %w", err)
	}
	return out, nil
}
