package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
)

// The timeline reads use the partial indexes events_room_stream and
// events_room_topological, which hold non-outliers only: their queries must
// say "e.outlier = 0" for SQLite to pick them.
const timelineVisible = "e.outlier = 0 AND e.rejection_reason IS NULL AND e.soft_failed = 0"

// StreamPosition returns the newest live stream ordering; see
// core.TimelineStore.
func (s *EventStore) StreamPosition(ctx context.Context) (int64, error) {
	return s.db.position(ctx, liveStream)
}

// sqlRoomsStream reads, for each room of a JSON array of room IDs, at most
// ?4 events with ?2 < stream_ordering <= ?3, the newest (%[1]s = DESC) or
// the oldest (ASC): one statement for all rooms, each room's events found
// through events_room_stream.
const sqlRoomsStream = `
	WITH wanted(room_nid) AS (
		SELECT room_nid FROM rooms WHERE room_id IN (SELECT value FROM json_each(?1))
	)
	SELECT ` + eventColumns + ` FROM wanted w
	JOIN events e ON e.event_nid IN (
		SELECT x.event_nid FROM events x
		WHERE x.room_nid = w.room_nid AND x.outlier = 0 AND x.rejection_reason IS NULL AND x.soft_failed = 0
			AND x.stream_ordering > ?2 AND x.stream_ordering <= ?3
		ORDER BY x.stream_ordering %[1]s LIMIT ?4
	) ` + eventJoins + `
	ORDER BY e.room_nid, e.stream_ordering %[1]s`

// sqlRoomsStreamWalk reads the same as sqlRoomsStream by walking the
// stream's range (?2, ?3] through its unique index instead of each room's
// events: cheaper when the range is short and the rooms many, as for an
// incremental /sync asking which of a user's thousand rooms have anything
// new. (The + keeps the planner off events_room_stream.)
const sqlRoomsStreamWalk = `
	WITH wanted(room_nid) AS MATERIALIZED (
		SELECT room_nid FROM rooms WHERE room_id IN (SELECT value FROM json_each(?1))
	), ranked AS (
		SELECT x.event_nid, row_number() OVER (PARTITION BY x.room_nid ORDER BY x.stream_ordering %[1]s) AS n
		FROM events x
		WHERE x.stream_ordering > ?2 AND x.stream_ordering <= ?3
			AND x.outlier = 0 AND x.rejection_reason IS NULL AND x.soft_failed = 0
			AND +x.room_nid IN (SELECT room_nid FROM wanted)
	)
	SELECT ` + eventColumns + ` FROM events e ` + eventJoins + `
	WHERE e.event_nid IN (SELECT event_nid FROM ranked WHERE n <= ?4)
	ORDER BY e.room_nid, e.stream_ordering %[1]s`

// streamWalkPerRoom is how many stream positions per room a walk of the
// range may cost before looking into each room is cheaper (a variable so
// tests can force either plan).
var streamWalkPerRoom int64 = 4

var (
	sqlRoomsStreamBackward     = fmt.Sprintf(sqlRoomsStream, "DESC")
	sqlRoomsStreamForward      = fmt.Sprintf(sqlRoomsStream, "ASC")
	sqlRoomsStreamWalkBackward = fmt.Sprintf(sqlRoomsStreamWalk, "DESC")
	sqlRoomsStreamWalkForward  = fmt.Sprintf(sqlRoomsStreamWalk, "ASC")
)

// RoomEventsStream reads rooms' events in stream order; see
// core.TimelineStore.
func (s *EventStore) RoomEventsStream(ctx context.Context, roomIDs []string, from, to int64, dir core.Direction, limit int) (map[string][]*core.StoredEvent, error) {
	out := map[string][]*core.StoredEvent{}
	if limit <= 0 || from >= to || len(roomIDs) == 0 {
		return out, nil
	}
	walk := len(roomIDs) > 1 && to-from <= streamWalkPerRoom*int64(len(roomIDs))
	query := sqlRoomsStreamBackward
	switch {
	case walk && dir == core.Forward:
		query = sqlRoomsStreamWalkForward
	case walk:
		query = sqlRoomsStreamWalkBackward
	case dir == core.Forward:
		query = sqlRoomsStreamForward
	}
	rooms, err := json.Marshal(roomIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: stream: %w", err)
	}
	var evs []*core.StoredEvent
	err = s.read(ctx, []string{query}, func(r reader) error {
		var err error
		evs, err = queryEvents(r, query, string(rooms), from, to, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		out[ev.RoomID] = append(out[ev.RoomID], ev)
	}
	return out, nil
}

// Row values compare (depth, stream) lexicographically, the order of
// events_room_topological.
const (
	sqlTopologicalForward = selectEvents + " WHERE e.room_nid = ? AND " + timelineVisible +
		" AND (e.topological_ordering, e.stream_ordering) > (?, ?)" +
		" AND (e.topological_ordering, e.stream_ordering) < (?, ?)" +
		" ORDER BY e.topological_ordering ASC, e.stream_ordering ASC LIMIT ?"
	sqlTopologicalBackward = selectEvents + " WHERE e.room_nid = ? AND " + timelineVisible +
		" AND (e.topological_ordering, e.stream_ordering) < (?, ?)" +
		" AND (e.topological_ordering, e.stream_ordering) > (?, ?)" +
		" ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT ?"
)

// RoomEventsTopological reads a room's events in topological order; see
// core.TimelineStore.
func (s *EventStore) RoomEventsTopological(ctx context.Context, roomID string, from, to core.TopologicalToken, dir core.Direction, limit int) ([]*core.StoredEvent, core.TopologicalToken, error) {
	query := sqlTopologicalBackward
	if dir == core.Forward {
		query = sqlTopologicalForward
	}
	var evs []*core.StoredEvent
	err := s.read(ctx, []string{sqlRoomNID, query}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil || limit <= 0 {
			return err
		}
		evs, err = queryEvents(r, query, room, from.Depth, from.Stream, to.Depth, to.Stream, limit)
		return err
	})
	if err != nil {
		return nil, from, err
	}
	next := from
	if n := len(evs); n > 0 {
		next = core.TopologicalToken{Depth: evs[n-1].Depth, Stream: evs[n-1].StreamOrdering}
	}
	return evs, next, nil
}

const sqlForwardExtremities = `
	SELECT e.event_id, e.topological_ordering FROM event_forward_extremities f
	JOIN events e ON e.event_nid = f.event_nid
	WHERE f.room_nid = ?
	ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT ?`

// ForwardExtremities returns a room's forward extremities, deepest first;
// see core.TimelineStore.
func (s *EventStore) ForwardExtremities(ctx context.Context, roomID string, limit int) ([]core.EventRef, error) {
	var out []core.EventRef
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	err := s.read(ctx, []string{sqlRoomNID, sqlForwardExtremities}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil {
			return err
		}
		rows, err := r.query(sqlForwardExtremities, room, limit)
		if err != nil {
			return fmt.Errorf("storage: forward extremities of %s: %w", roomID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var ref core.EventRef
			if err := rows.Scan(&ref.EventID, &ref.Depth); err != nil {
				return err
			}
			out = append(out, ref)
		}
		return rows.Err()
	})
	return out, err
}

// BackwardExtremities returns where backfilling a room continues; see
// core.TimelineStore.
func (s *EventStore) BackwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	var out []string
	const query = "SELECT event_id FROM event_backward_extremities WHERE room_nid = ? ORDER BY event_id"
	err := s.read(ctx, []string{sqlRoomNID, query}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil {
			return err
		}
		rows, err := r.query(query, room)
		if err != nil {
			return fmt.Errorf("storage: backward extremities of %s: %w", roomID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out = append(out, id)
		}
		return rows.Err()
	})
	return out, err
}
