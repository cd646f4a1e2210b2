package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
)

// sqlInternalMetadata reads an event's internal metadata with the client
// transaction put back: the persister keeps txn_id and device_id in
// event_txn_id only (see stripTxnMetadata), not a second time beside the
// JSON. Rows stored before that still carry them, which merge the same.
const sqlInternalMetadata = `CASE WHEN tx.txn_id IS NULL THEN j.internal_metadata
		ELSE json_patch(coalesce(j.internal_metadata, '{}'), json_object('txn_id', tx.txn_id, 'device_id', tx.device_id)) END`

// eventColumns and eventJoins read core.StoredEvent rows (see scanEvent)
// of events e.
const (
	eventColumns = `e.event_id, r.room_id, r.room_version, e.type, e.state_key, e.sender,
		e.topological_ordering, e.stream_ordering, e.origin_server_ts, e.received_ts,
		e.outlier, e.soft_failed, e.rejection_reason, g.state_group,
		j.json, j.stripped, aset.auth_events, j.format_version, ` + sqlInternalMetadata + `,
		(SELECT json_group_array(re.event_id) FROM redactions rd
		 JOIN events re ON re.event_nid = rd.event_nid
		 WHERE rd.redacts = e.event_id AND re.rejection_reason IS NULL)`
	eventJoins = `
		JOIN rooms r ON r.room_nid = e.room_nid
		JOIN event_json j ON j.event_nid = e.event_nid
		LEFT JOIN event_to_state_groups g ON g.event_nid = e.event_nid
		LEFT JOIN event_txn_id tx ON tx.event_nid = e.event_nid` + eventJSONJoin
	// selectEvents is followed by a WHERE clause over e.
	selectEvents = "SELECT " + eventColumns + " FROM events e " + eventJoins

	sqlEventByID = selectEvents + " WHERE e.event_id = ?"
	// The IDs are passed as one JSON array, so the text never varies.
	sqlEventsByID = selectEvents + " WHERE e.event_id IN (SELECT value FROM json_each(?))"
)

func scanEvent(rows *sql.Rows) (*core.StoredEvent, error) {
	ev := &core.StoredEvent{}
	// The scan's targets escape to the heap: one struct is one allocation.
	var c struct {
		stateKey, rejected, meta sql.NullString
		group                    sql.NullInt64
		js                       string
		stripped                 int
		auth                     sql.NullString
		redactedBy               string
	}
	err := rows.Scan(&ev.EventID, &ev.RoomID, &ev.RoomVersion, &ev.Type, &c.stateKey, &ev.Sender,
		&ev.Depth, &ev.StreamOrdering, &ev.OriginServerTS, &ev.ReceivedTS,
		&ev.Outlier, &ev.SoftFailed, &c.rejected, &c.group,
		&c.js, &c.stripped, &c.auth, &ev.FormatVersion, &c.meta, &c.redactedBy)
	if err != nil {
		return nil, fmt.Errorf("storage: read event: %w", err)
	}
	if c.stateKey.Valid {
		sk := c.stateKey.String
		ev.StateKey = &sk
	}
	ev.Rejected = c.rejected.String
	ev.StateGroup = c.group.Int64
	ev.JSON, err = restoreEventJSON(c.js, c.stripped, &eventRowFields{EventID: ev.EventID, RoomID: ev.RoomID,
		Type: ev.Type, Sender: ev.Sender, StateKey: ev.StateKey, Depth: ev.Depth, OriginServerTS: ev.OriginServerTS,
		AuthEvents: c.auth.String})
	if err != nil {
		return nil, fmt.Errorf("storage: read event %s: %w", ev.EventID, err)
	}
	if c.meta.Valid {
		ev.InternalMetadata = []byte(c.meta.String)
	}
	if c.redactedBy != "[]" {
		if err := json.Unmarshal([]byte(c.redactedBy), &ev.RedactedBy); err != nil {
			return nil, fmt.Errorf("storage: redactions of %s: %w", ev.EventID, err)
		}
	}
	return ev, nil
}

// queryEvents runs query (selecting eventColumns) and returns the events
// in row order.
func queryEvents(r reader, query string, args ...any) ([]*core.StoredEvent, error) {
	rows, err := r.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: read events: %w", err)
	}
	defer rows.Close()
	var out []*core.StoredEvent
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read events: %w", err)
	}
	return out, nil
}

// Event returns one stored event; see core.EventStore.
func (s *EventStore) Event(ctx context.Context, eventID string) (*core.StoredEvent, error) {
	var evs []*core.StoredEvent
	err := s.read(ctx, []string{sqlEventByID}, func(r reader) error {
		var err error
		evs, err = queryEvents(r, sqlEventByID, eventID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, notFound("event %s", eventID)
	}
	return evs[0], nil
}

// Events returns the stored events among eventIDs; see core.EventStore.
func (s *EventStore) Events(ctx context.Context, eventIDs []string) (map[string]*core.StoredEvent, error) {
	out := make(map[string]*core.StoredEvent, len(eventIDs))
	if len(eventIDs) == 0 {
		return out, nil
	}
	ids, err := json.Marshal(eventIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: events: %w", err)
	}
	err = s.read(ctx, []string{sqlEventsByID}, func(r reader) error {
		evs, err := queryEvents(r, sqlEventsByID, string(ids))
		for _, ev := range evs {
			out[ev.EventID] = ev
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
