package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core/appservice"
)

// AppServiceQueueStore keeps the application service sender's queues:
// each service's place in the event stream and transaction in flight
// (table appservice_stream_position) and its ephemeral events (table
// appservice_ephemeral). It implements appservice.QueueStore.
type AppServiceQueueStore struct {
	db *DB
}

var _ appservice.QueueStore = (*AppServiceQueueStore)(nil)

// NewAppServiceQueueStore returns the application service queue store of
// db.
func NewAppServiceQueueStore(db *DB) *AppServiceQueueStore { return &AppServiceQueueStore{db: db} }

const (
	sqlASPosition = `
		SELECT stream_ordering, txn_id, pending_stream_ordering, coalesce(pending_ephemeral_id, 0)
		FROM appservice_stream_position WHERE service = ?`
	// A new service starts after the live events stored so far.
	sqlASStart = `
		INSERT INTO appservice_stream_position (service, stream_ordering, txn_id)
		SELECT ?, coalesce(max(stream_ordering), 0), 1 FROM events WHERE stream_ordering > 0
		ON CONFLICT DO NOTHING`
	sqlASAdvance = `
		UPDATE appservice_stream_position
		SET stream_ordering = ?, txn_id = ?, pending_stream_ordering = NULL, pending_ephemeral_id = NULL
		WHERE service = ?`
	sqlASPend = `
		UPDATE appservice_stream_position SET pending_stream_ordering = ?, pending_ephemeral_id = ?
		WHERE service = ?`
	sqlASEphemeralDone = "DELETE FROM appservice_ephemeral WHERE service = ? AND ephemeral_id <= ?"
	sqlASQueueEph      = "INSERT INTO appservice_ephemeral (service, json) VALUES (?, ?)"
	// The oldest ephemeral events of a service past the most kept.
	sqlASTrimEph = `
		DELETE FROM appservice_ephemeral WHERE service = ?1 AND ephemeral_id <= (
			SELECT ephemeral_id FROM appservice_ephemeral WHERE service = ?1
			ORDER BY ephemeral_id DESC LIMIT 1 OFFSET ?2)`
	sqlASEphemeral = `
		SELECT ephemeral_id, json FROM appservice_ephemeral
		WHERE service = ? AND (? = 0 OR ephemeral_id <= ?) ORDER BY ephemeral_id LIMIT ?`
	sqlASEvents = `
		SELECT e.stream_ordering, ` + eventJSONColumns + `
		FROM events e JOIN rooms r ON r.room_nid = e.room_nid JOIN event_json j ON j.event_nid = e.event_nid` + eventJSONJoin + `
		WHERE e.stream_ordering > ? AND e.outlier = 0 AND e.soft_failed = 0 AND e.rejection_reason IS NULL
		ORDER BY e.stream_ordering LIMIT ?`
	sqlASMembers = `
		SELECT c.state_key FROM current_state_events c JOIN rooms r ON r.room_nid = c.room_nid
		WHERE r.room_id = ? AND c.type = 'm.room.member' AND c.membership = 'join'`
	sqlASAliases = "SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias"
)

// Position implements appservice.QueueStore.
func (s *AppServiceQueueStore) Position(ctx context.Context, service string) (appservice.Position, error) {
	var p appservice.Position
	var pending sql.NullInt64
	var pendingEph int64
	scan := func(q Queryer) error {
		return q.QueryRowContext(ctx, sqlASPosition, service).Scan(&p.Stream, &p.TxnID, &pending, &pendingEph)
	}
	err := s.db.Read(ctx, scan)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.db.Write(ctx, func(q Queryer) error {
			if _, err := q.ExecContext(ctx, sqlASStart, service); err != nil {
				return err
			}
			return scan(q)
		})
	}
	if err != nil {
		return p, fmt.Errorf("storage: application service %s: %w", service, err)
	}
	if pending.Valid {
		p.Pending = &appservice.Pending{Stream: pending.Int64, Ephemeral: pendingEph}
	}
	return p, nil
}

// Pend implements appservice.QueueStore.
func (s *AppServiceQueueStore) Pend(ctx context.Context, service string, p appservice.Pending) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlASPend, p.Stream, p.Ephemeral, service)
		return wrapErr("application service "+service, err)
	})
}

// Advance implements appservice.QueueStore.
func (s *AppServiceQueueStore) Advance(ctx context.Context, service string, stream, txnID, ephemeral int64) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlASAdvance, stream, txnID, service)
		if err == nil && ephemeral > 0 {
			_, err = q.ExecContext(ctx, sqlASEphemeralDone, service, ephemeral)
		}
		return wrapErr("application service "+service, err)
	})
}

// QueueEphemeral implements appservice.QueueStore.
func (s *AppServiceQueueStore) QueueEphemeral(ctx context.Context, services []string, event json.RawMessage, max int) error {
	if len(services) == 0 {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		for _, service := range services {
			if _, err := q.ExecContext(ctx, sqlASQueueEph, service, string(event)); err != nil {
				return wrapErr("application service "+service, err)
			}
			if _, err := q.ExecContext(ctx, sqlASTrimEph, service, max); err != nil {
				return wrapErr("application service "+service, err)
			}
		}
		return nil
	})
}

// Ephemeral implements appservice.QueueStore.
func (s *AppServiceQueueStore) Ephemeral(ctx context.Context, service string, upTo int64, limit int) ([]appservice.EphemeralEvent, error) {
	var out []appservice.EphemeralEvent
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlASEphemeral, service, upTo, upTo, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e appservice.EphemeralEvent
			var js string
			if err := rows.Scan(&e.ID, &js); err != nil {
				return err
			}
			e.JSON = json.RawMessage(js)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: ephemeral events for application service %s: %w", service, err)
	}
	return out, nil
}

// EventsAfter implements appservice.QueueStore: the events in the client
// format (the fields of a ClientEvent, taken from the stored PDU).
func (s *AppServiceQueueStore) EventsAfter(ctx context.Context, stream int64, limit int) ([]appservice.StreamEvent, error) {
	var out []appservice.StreamEvent
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlASEvents, stream, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ev appservice.StreamEvent
			var stored storedEventJSON
			if err := rows.Scan(append([]any{&ev.Stream}, stored.dest()...)...); err != nil {
				return err
			}
			js, err := stored.json()
			if err != nil {
				return err
			}
			ev.RoomID, ev.Sender, ev.Type, ev.StateKey = stored.f.RoomID, stored.f.Sender, stored.f.Type, stored.f.StateKey
			if ev.JSON, err = clientEventJSON(js, stored.f.EventID, ev.RoomID); err != nil {
				return fmt.Errorf("event %s: %w", stored.f.EventID, err)
			}
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: events for application services: %w", err)
	}
	return out, nil
}

// clientEventJSON keeps the client-format fields of a stored PDU and adds
// its event and room IDs.
func clientEventJSON(pduJSON []byte, eventID, roomID string) (json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(pduJSON, &all); err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	for _, k := range []string{"content", "origin_server_ts", "sender", "type", "state_key", "redacts", "unsigned"} {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	out["event_id"], _ = json.Marshal(eventID)
	out["room_id"], _ = json.Marshal(roomID)
	return json.Marshal(out)
}

// RoomMembers implements appservice.QueueStore.
func (s *AppServiceQueueStore) RoomMembers(ctx context.Context, roomID string) ([]string, error) {
	return s.strings(ctx, sqlASMembers, roomID)
}

// RoomAliases implements appservice.QueueStore.
func (s *AppServiceQueueStore) RoomAliases(ctx context.Context, roomID string) ([]string, error) {
	return s.strings(ctx, sqlASAliases, roomID)
}

func (s *AppServiceQueueStore) strings(ctx context.Context, query, arg string) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, query, arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: room %s: %w", arg, err)
	}
	return out, nil
}
