package storage

import (
	"context"
	"database/sql"
	"errors"
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
	return liveStream.Current(ctx, s.db.Reader())
}

// RoomEventsStream reads rooms' events in stream order; see
// core.TimelineStore.
func (s *EventStore) RoomEventsStream(ctx context.Context, roomIDs []string, from, to int64, dir core.Direction, limit int) (map[string][]*core.StoredEvent, error) {
	out := map[string][]*core.StoredEvent{}
	if limit <= 0 || from >= to {
		return out, nil
	}
	order := "DESC"
	if dir == core.Forward {
		order = "ASC"
	}
	err := s.db.Read(ctx, func(q Queryer) error {
		for _, roomID := range roomIDs {
			var room int64
			err := q.QueryRowContext(ctx, "SELECT room_nid FROM rooms WHERE room_id = ?", roomID).Scan(&room)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("storage: room %s: %w", roomID, err)
			}
			evs, err := queryEvents(ctx, q,
				"WHERE e.room_nid = ? AND "+timelineVisible+
					" AND e.stream_ordering > ? AND e.stream_ordering <= ? ORDER BY e.stream_ordering "+order+" LIMIT ?",
				room, from, to, limit)
			if err != nil {
				return err
			}
			if len(evs) > 0 {
				out[roomID] = evs
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RoomEventsTopological reads a room's events in topological order; see
// core.TimelineStore.
func (s *EventStore) RoomEventsTopological(ctx context.Context, roomID string, from, to core.TopologicalToken, dir core.Direction, limit int) ([]*core.StoredEvent, core.TopologicalToken, error) {
	var evs []*core.StoredEvent
	err := s.db.Read(ctx, func(q Queryer) error {
		room, err := roomNID(ctx, q, roomID)
		if err != nil || limit <= 0 {
			return err
		}
		// Row values compare (depth, stream) lexicographically, the order
		// of the index.
		tail := "WHERE e.room_nid = ? AND " + timelineVisible
		if dir == core.Forward {
			tail += " AND (e.topological_ordering, e.stream_ordering) > (?, ?)" +
				" AND (e.topological_ordering, e.stream_ordering) < (?, ?)" +
				" ORDER BY e.topological_ordering ASC, e.stream_ordering ASC LIMIT ?"
		} else {
			tail += " AND (e.topological_ordering, e.stream_ordering) < (?, ?)" +
				" AND (e.topological_ordering, e.stream_ordering) > (?, ?)" +
				" ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT ?"
		}
		evs, err = queryEvents(ctx, q, tail, room, from.Depth, from.Stream, to.Depth, to.Stream, limit)
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

// ForwardExtremities returns a room's forward extremities, deepest first;
// see core.TimelineStore.
func (s *EventStore) ForwardExtremities(ctx context.Context, roomID string, limit int) ([]core.EventRef, error) {
	var out []core.EventRef
	err := s.db.Read(ctx, func(q Queryer) error {
		room, err := roomNID(ctx, q, roomID)
		if err != nil {
			return err
		}
		if limit <= 0 {
			limit = -1 // SQLite: no limit
		}
		rows, err := q.QueryContext(ctx, `
			SELECT e.event_id, e.topological_ordering FROM event_forward_extremities f
			JOIN events e ON e.event_nid = f.event_nid
			WHERE f.room_nid = ?
			ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT ?`, room, limit)
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
	err := s.db.Read(ctx, func(q Queryer) error {
		room, err := roomNID(ctx, q, roomID)
		if err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx,
			"SELECT event_id FROM event_backward_extremities WHERE room_nid = ? ORDER BY event_id", room)
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
