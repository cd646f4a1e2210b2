package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// The event_relations and threads tables are filled by triggers on
// event_json (main schema), so this file only reads them.

var _ clientsync.RelationStore = (*EventStore)(nil)

// childVisible keeps the children that count: timeline events that no
// unrejected redaction targets.
const childVisible = timelineVisible + `
	AND NOT EXISTS (SELECT 1 FROM redactions rd JOIN events re ON re.event_nid = rd.event_nid
		WHERE rd.redacts = e.event_id AND re.rejection_reason IS NULL)`

// sqlRelations selects the children of a parent up to a depth: the
// parent's room (1), its ID (2), the depth (3), a relation type or ""
// (4, 5), an event type or "" (6, 7), the bounds (8-11) and the limit (12),
// with the bounds and the order filled in per direction.
const sqlRelationsBase = selectEvents + `
	WHERE e.event_nid IN (
		WITH RECURSIVE rel (event_nid, event_id, depth) AS (
			SELECT r.event_nid, ce.event_id, 1 FROM event_relations r
			JOIN events ce ON ce.event_nid = r.event_nid
			WHERE r.room_nid = ?1 AND r.relates_to_id = ?2
			UNION
			SELECT r.event_nid, ce.event_id, rel.depth + 1 FROM rel
			JOIN event_relations r ON r.relates_to_id = rel.event_id
			JOIN events ce ON ce.event_nid = r.event_nid
			WHERE r.room_nid = ?1 AND rel.depth < ?3
		)
		SELECT event_nid FROM rel)
	AND e.room_nid = ?1 AND ` + childVisible + `
	AND (?4 = '' OR EXISTS (SELECT 1 FROM event_relations r2 WHERE r2.event_nid = e.event_nid AND r2.rel_type = ?5))
	AND (?6 = '' OR e.type = ?7)`

const (
	sqlRelationsBackward = sqlRelationsBase + `
	AND (e.topological_ordering, e.stream_ordering) < (?8, ?9)
	AND (e.topological_ordering, e.stream_ordering) > (?10, ?11)
	ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT ?12`
	sqlRelationsForward = sqlRelationsBase + `
	AND (e.topological_ordering, e.stream_ordering) > (?8, ?9)
	AND (e.topological_ordering, e.stream_ordering) < (?10, ?11)
	ORDER BY e.topological_ordering ASC, e.stream_ordering ASC LIMIT ?12`
)

// Relations reads the children of an event; see clientsync.RelationStore.
func (s *EventStore) Relations(ctx context.Context, q clientsync.RelationQuery) ([]*core.StoredEvent, error) {
	query := sqlRelationsBackward
	if q.Dir == core.Forward {
		query = sqlRelationsForward
	}
	depth := max(q.Depth, 1)
	var out []*core.StoredEvent
	err := s.read(ctx, []string{sqlRoomNID, query}, func(r reader) error {
		room, err := roomNID(r, q.RoomID)
		if err != nil || q.Limit <= 0 {
			return err
		}
		out, err = queryEvents(r, query, room, q.ParentID, depth, q.RelType, q.RelType, q.EventType, q.EventType,
			q.From.Depth, q.From.Stream, q.To.Depth, q.To.Stream, q.Limit)
		return err
	})
	return out, err
}

// The aggregation queries take the parents as a JSON array (1), and the
// ignored users as another (2).
const (
	// sqlThreadSummaries counts each parent's thread children, and tells
	// whether the user (3) sent one of them or the root.
	sqlThreadSummaries = `
	SELECT p.value, count(*), max(e.sender = ?3) OR max(pe.sender = ?3)
	FROM json_each(?1) p
	JOIN event_relations r ON r.relates_to_id = p.value AND r.rel_type = 'm.thread'
	JOIN events e ON e.event_nid = r.event_nid
	JOIN events pe ON pe.event_id = p.value AND pe.room_nid = e.room_nid
	WHERE ` + childVisible + ` AND e.sender NOT IN (SELECT value FROM json_each(?2))
	GROUP BY p.value`
	// sqlThreadLatest is the latest thread child of one parent (1).
	sqlThreadLatest = `
	SELECT e.event_id FROM event_relations r
	JOIN events e ON e.event_nid = r.event_nid
	WHERE r.relates_to_id = ?1 AND r.rel_type = 'm.thread' AND ` + childVisible + `
		AND e.sender NOT IN (SELECT value FROM json_each(?2))
	ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT 1`
	// sqlEdits lists the valid edits of each parent, the most recent
	// first ("Validity of replacement events").
	sqlEdits = `
	SELECT p.value, e.event_id FROM json_each(?1) p
	JOIN events pe ON pe.event_id = p.value
	JOIN event_relations r ON r.relates_to_id = p.value AND r.rel_type = 'm.replace'
	JOIN events e ON e.event_nid = r.event_nid
	JOIN event_json j ON j.event_nid = e.event_nid
	WHERE e.room_nid = pe.room_nid AND e.sender = pe.sender AND e.type = pe.type
		AND e.state_key IS NULL AND pe.state_key IS NULL
		AND NOT EXISTS (SELECT 1 FROM event_relations pr WHERE pr.event_nid = pe.event_nid AND pr.rel_type = 'm.replace')
		AND (e.type = 'm.room.encrypted' OR json_type(j.json, '$.content."m.new_content"') = 'object')
		AND ` + childVisible + `
	ORDER BY p.value, e.origin_server_ts DESC, e.event_id DESC`
	// sqlReferences lists each parent's m.reference children, oldest
	// first.
	sqlReferences = `
	SELECT p.value, e.event_id FROM json_each(?1) p
	JOIN events pe ON pe.event_id = p.value
	JOIN event_relations r ON r.relates_to_id = p.value AND r.rel_type = 'm.reference'
	JOIN events e ON e.event_nid = r.event_nid
	WHERE e.room_nid = pe.room_nid AND ` + childVisible + ` AND e.sender NOT IN (SELECT value FROM json_each(?2))
	ORDER BY p.value, e.topological_ordering, e.stream_ordering`
	// sqlHasRelations keeps the parents that have any child, so most
	// pages of events skip the other queries.
	sqlHasRelations = `
	SELECT DISTINCT r.relates_to_id FROM event_relations r
	WHERE r.relates_to_id IN (SELECT value FROM json_each(?1)) AND r.rel_type IN ('m.thread', 'm.replace', 'm.reference')`
)

// Aggregations reads the bundled aggregations of parents; see
// clientsync.RelationStore.
func (s *EventStore) Aggregations(ctx context.Context, parentIDs []string, userID string, ignored []string) (map[string]*clientsync.Aggregation, error) {
	out := map[string]*clientsync.Aggregation{}
	if len(parentIDs) == 0 {
		return out, nil
	}
	if ignored == nil {
		ignored = []string{}
	}
	parentsJSON, err := json.Marshal(parentIDs)
	if err != nil {
		return nil, err
	}
	ignoredJSON, err := json.Marshal(ignored)
	if err != nil {
		return nil, err
	}
	get := func(id string) *clientsync.Aggregation {
		a := out[id]
		if a == nil {
			a = &clientsync.Aggregation{}
			out[id] = a
		}
		return a
	}
	queries := []string{sqlHasRelations, sqlThreadSummaries, sqlThreadLatest, sqlEdits, sqlReferences}
	err = s.read(ctx, queries, func(r reader) error {
		var parents []string
		if err := scanStrings(r, sqlHasRelations, &parents, string(parentsJSON)); err != nil {
			return err
		}
		if len(parents) == 0 {
			return nil
		}
		pj, err := json.Marshal(parents)
		if err != nil {
			return err
		}
		rows, err := r.query(sqlThreadSummaries, string(pj), string(ignoredJSON), userID)
		if err != nil {
			return fmt.Errorf("storage: thread summaries: %w", err)
		}
		var roots []string
		for rows.Next() {
			var id string
			var n int
			var participated bool
			if err := rows.Scan(&id, &n, &participated); err != nil {
				rows.Close()
				return fmt.Errorf("storage: thread summaries: %w", err)
			}
			a := get(id)
			a.ThreadCount, a.ThreadParticipated = n, participated
			roots = append(roots, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: thread summaries: %w", err)
		}
		for _, id := range roots {
			if err := r.queryRow(sqlThreadLatest, id, string(ignoredJSON)).Scan(&out[id].ThreadLatest); err != nil {
				return fmt.Errorf("storage: latest thread event of %s: %w", id, err)
			}
		}
		if err := eachPair(r, sqlEdits, func(parent, child string) {
			if a := get(parent); a.Edit == "" {
				a.Edit = child
			}
		}, string(pj)); err != nil {
			return err
		}
		return eachPair(r, sqlReferences, func(parent, child string) {
			a := get(parent)
			a.References = append(a.References, child)
		}, string(pj), string(ignoredJSON))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanStrings appends the single text column of query's rows to out.
func scanStrings(r reader, query string, out *[]string, args ...any) error {
	rows, err := r.query(query, args...)
	if err != nil {
		return fmt.Errorf("storage: relations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("storage: relations: %w", err)
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

// eachPair calls fn with the two text columns of query's rows.
func eachPair(r reader, query string, fn func(a, b string), args ...any) error {
	rows, err := r.query(query, args...)
	if err != nil {
		return fmt.Errorf("storage: relations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return fmt.Errorf("storage: relations: %w", err)
		}
		fn(a, b)
	}
	return rows.Err()
}

// sqlThreads lists a room's (1) threads before a position (2, 3), the most
// recently active first, at most (4); with (5) set, only those the user
// (6) took part in.
const sqlThreads = `
	SELECT t.root_event_id, t.topological_ordering, t.stream_ordering FROM threads t
	WHERE t.room_nid = ?1 AND (t.topological_ordering, t.stream_ordering) < (?2, ?3)
		AND (NOT ?5 OR EXISTS (SELECT 1 FROM events re WHERE re.event_id = t.root_event_id AND re.sender = ?6)
			OR EXISTS (SELECT 1 FROM event_relations r JOIN events e ON e.event_nid = r.event_nid
				WHERE r.relates_to_id = t.root_event_id AND r.rel_type = 'm.thread' AND e.sender = ?6))
	ORDER BY t.topological_ordering DESC, t.stream_ordering DESC LIMIT ?4`

// Threads lists a room's threads; see clientsync.RelationStore.
func (s *EventStore) Threads(ctx context.Context, roomID, userID string, participated bool, from core.TopologicalToken, limit int) ([]clientsync.ThreadRoot, error) {
	var out []clientsync.ThreadRoot
	err := s.read(ctx, []string{sqlRoomNID, sqlThreads}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil || limit <= 0 {
			return err
		}
		rows, err := r.query(sqlThreads, room, from.Depth, from.Stream, limit, participated, userID)
		if err != nil {
			return fmt.Errorf("storage: threads of %s: %w", roomID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var t clientsync.ThreadRoot
			if err := rows.Scan(&t.EventID, &t.Latest.Depth, &t.Latest.Stream); err != nil {
				return fmt.Errorf("storage: threads of %s: %w", roomID, err)
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}
