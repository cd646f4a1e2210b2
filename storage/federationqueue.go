package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
)

// FederationQueueStore keeps the federation sender's queues (tables
// federation_stream_position, federation_outbound_pdus,
// federation_outbound_edus and federation_destinations). It implements
// core.FederationQueueStore.
//
// PDUs are queued by reference to the stored event (its stream ordering
// and event_nid), not copied: the queue row is what survives a restart.
type FederationQueueStore struct {
	db *DB
	// idle keeps QueueWaiting's last "nothing waiting" answer
	// (federationqueue_idle.go).
	idle outboundIdle
}

var _ core.FederationQueueStore = (*FederationQueueStore)(nil)

// NewFederationQueueStore returns the federation queue store of db.
func NewFederationQueueStore(db *DB) *FederationQueueStore { return &FederationQueueStore{db: db} }

const (
	sqlFedPosition    = "SELECT stream_ordering FROM federation_stream_position"
	sqlFedSetPosition = "UPDATE federation_stream_position SET stream_ordering = ?"
	sqlMaxStream      = "SELECT coalesce(max(stream_ordering), 0) FROM events"
	// The local users' accepted live events after a position.
	sqlFedNewEvents = `
		SELECT e.event_nid, e.stream_ordering, e.room_nid, e.state_key, m.membership
		FROM events e LEFT JOIN room_memberships m ON m.event_nid = e.event_nid
		WHERE e.stream_ordering > ? AND e.outlier = 0 AND e.soft_failed = 0 AND e.rejection_reason IS NULL
			AND substr(e.sender, instr(e.sender, ':') + 1) = ?
		ORDER BY e.stream_ordering LIMIT ?`
	// Other servers' users' joins among the events (?1, ?2] of the stream,
	// each with whether no other user of its server is joined to the room
	// now: the server newly shares the room with us.
	sqlFedRemoteJoins = `
		SELECT e.room_nid, e.state_key FROM events e JOIN room_memberships m ON m.event_nid = e.event_nid
		WHERE e.stream_ordering > ?1 AND e.stream_ordering <= ?2 AND e.outlier = 0 AND e.soft_failed = 0
			AND e.rejection_reason IS NULL AND m.membership = 'join'
			AND substr(e.state_key, instr(e.state_key, ':') + 1) <> ?3
			AND NOT EXISTS (SELECT 1 FROM current_state_events c WHERE c.room_nid = e.room_nid
				AND c.type = 'm.room.member' AND c.membership = 'join' AND c.state_key <> e.state_key
				AND substr(c.state_key, instr(c.state_key, ':') + 1) = substr(e.state_key, instr(e.state_key, ':') + 1))
		ORDER BY e.stream_ordering`
	// The local users joined to a room.
	sqlFedLocalMembers = `
		SELECT state_key FROM current_state_events
		WHERE room_nid = ? AND type = 'm.room.member' AND membership = 'join'
			AND substr(state_key, instr(state_key, ':') + 1) = ?`
	// The servers with a member joined to a room.
	sqlFedRoomServers = `
		SELECT DISTINCT substr(state_key, instr(state_key, ':') + 1) FROM current_state_events
		WHERE room_nid = ? AND type = 'm.room.member' AND membership = 'join'`
	sqlFedQueuePDU = `
		INSERT INTO federation_outbound_pdus (destination, stream_ordering, event_nid, room_nid)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`
	sqlFedQueueEDU  = "INSERT INTO federation_outbound_edus (destination, edu_type, content) VALUES (?, ?, ?)"
	sqlFedBatchPDUs = `
		SELECT q.stream_ordering, ` + eventJSONColumns + `
		FROM federation_outbound_pdus q
		JOIN events e ON e.event_nid = q.event_nid
		JOIN rooms r ON r.room_nid = q.room_nid
		JOIN event_json j ON j.event_nid = q.event_nid` + eventJSONJoin + `
		WHERE q.destination = ? ORDER BY q.stream_ordering LIMIT ?`
	sqlFedBatchEDUs = `
		SELECT id, edu_type, content FROM federation_outbound_edus
		WHERE destination = ? ORDER BY id LIMIT ?`
	sqlFedDropPDU = "DELETE FROM federation_outbound_pdus WHERE destination = ? AND stream_ordering = ?"
	sqlFedDropEDU = "DELETE FROM federation_outbound_edus WHERE destination = ? AND id = ?"
	sqlFedSent    = `
		INSERT INTO federation_destinations (destination, failure_ts, retry_last_ts, retry_interval, last_successful_stream_ordering)
		VALUES (?, NULL, 0, 0, ?)
		ON CONFLICT (destination) DO UPDATE SET failure_ts = NULL, retry_last_ts = 0, retry_interval = 0,
			last_successful_stream_ordering = coalesce(excluded.last_successful_stream_ordering, last_successful_stream_ordering)`
	sqlFedFailed = `
		INSERT INTO federation_destinations (destination, failure_ts, retry_last_ts, retry_interval)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (destination) DO UPDATE SET failure_ts = coalesce(failure_ts, excluded.failure_ts),
			retry_last_ts = excluded.retry_last_ts, retry_interval = excluded.retry_interval`
	sqlFedReset = "UPDATE federation_destinations SET retry_last_ts = 0, retry_interval = 0 WHERE destination = ?"
	sqlFedRetry = `
		SELECT coalesce(failure_ts, 0), retry_last_ts, retry_interval FROM federation_destinations WHERE destination = ?`
	sqlFedCatchUp = `
		DELETE FROM federation_outbound_pdus WHERE destination = ?1 AND stream_ordering NOT IN (
			SELECT max(stream_ordering) FROM federation_outbound_pdus WHERE destination = ?1 GROUP BY room_nid)`
	sqlFedPending = `
		SELECT d.destination, coalesce(f.failure_ts, 0), coalesce(f.retry_last_ts, 0), coalesce(f.retry_interval, 0)
		FROM (SELECT destination FROM federation_outbound_pdus UNION SELECT destination FROM federation_outbound_edus) d
		LEFT JOIN federation_destinations f ON f.destination = d.destination
		ORDER BY d.destination`
)

// sqlFedWaiting answers QueueWaiting in one statement: new events past the
// sender's position, device changes past the device-list position, and a
// local user's presence change past the presence position (the same tests
// QueueNewEvents, QueueDeviceListUpdates and QueuePresenceUpdates make).
const sqlFedWaiting = `SELECT
	(` + sqlMaxStream + `) > (` + sqlFedPosition + `),
	(` + sqlDeviceOutboundTop + `) > (` + sqlDeviceOutboundPos + `),
	EXISTS (SELECT 1 FROM presence WHERE stream_id > (` + sqlPresenceOutPos + `)
		AND substr(user_id, instr(user_id, ':') + 1) = (SELECT value FROM server_config WHERE key = 'server_name'))`

// QueueWaiting tells which queueing step has work, in one read; see
// core.FederationQueueStore.
//
// A "nothing waiting" answer is given again without a read until a write
// that may give the sender work commits (federationqueue_idle.go).
func (s *FederationQueueStore) QueueWaiting(ctx context.Context) (core.QueueWaiting, error) {
	gen := s.db.outbound.Load()
	if s.idle.idle(gen) {
		return core.QueueWaiting{}, nil
	}
	var w core.QueueWaiting
	// Not in a read scope's transaction, which may have begun before gen
	// was taken.
	ctx = core.WithReadScope(ctx, nil)
	err := s.db.Read(ctx, func(q Queryer) error {
		return q.QueryRowContext(ctx, sqlFedWaiting).Scan(&w.Events, &w.DeviceLists, &w.Presence)
	})
	if err != nil {
		return core.QueueWaiting{}, fmt.Errorf("storage: federation queue positions: %w", err)
	}
	if w == (core.QueueWaiting{}) {
		s.idle.keep(gen)
	}
	return w, nil
}

// QueueNewEvents queues the events persisted since the last call; see
// core.FederationQueueStore.
func (s *FederationQueueStore) QueueNewEvents(ctx context.Context, limit int) ([]string, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("storage: QueueNewEvents needs a positive limit")
	}
	// QueueWaiting told the sender there are new events: no read first.
	var dests []string
	var more bool
	err := s.db.Write(ctx, func(q Queryer) error {
		dests, more = nil, false
		var err error
		dests, more, err = queueNewEvents(ctx, q, limit)
		return err
	})
	return dests, more, err
}

type newFedEvent struct {
	nid, stream, room int64
	stateKey          sql.NullString
	membership        sql.NullString
}

func queueNewEvents(ctx context.Context, q Queryer, limit int) ([]string, bool, error) {
	var pos int64
	if err := q.QueryRowContext(ctx, sqlFedPosition).Scan(&pos); err != nil {
		return nil, false, fmt.Errorf("storage: federation stream position: %w", err)
	}
	var server string
	if err := q.QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = 'server_name'").Scan(&server); err != nil {
		return nil, false, fmt.Errorf("storage: server name: %w", err)
	}
	rows, err := q.QueryContext(ctx, sqlFedNewEvents, pos, server, limit)
	if err != nil {
		return nil, false, fmt.Errorf("storage: new events to send: %w", err)
	}
	var evs []newFedEvent
	for rows.Next() {
		var e newFedEvent
		if err := rows.Scan(&e.nid, &e.stream, &e.room, &e.stateKey, &e.membership); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("storage: new events to send: %w", err)
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("storage: new events to send: %w", err)
	}
	more := len(evs) == limit
	next := pos
	if more {
		next = evs[len(evs)-1].stream
	} else if err := q.QueryRowContext(ctx, sqlMaxStream).Scan(&next); err != nil {
		return nil, false, fmt.Errorf("storage: stream position: %w", err)
	}
	servers := map[int64][]string{}
	touched := map[string]bool{}
	var dests []string
	for _, e := range evs {
		list, ok := servers[e.room]
		if !ok {
			if list, err = roomServers(ctx, q, e.room); err != nil {
				return nil, false, err
			}
			servers[e.room] = list
		}
		targets := list
		if e.membership.Valid && e.stateKey.Valid {
			if _, domain, ok := strings.Cut(e.stateKey.String, ":"); ok {
				targets = append(targets[:len(targets):len(targets)], domain)
			}
		}
		for _, d := range targets {
			if d == "" || d == server {
				continue
			}
			if _, err := q.ExecContext(ctx, sqlFedQueuePDU, d, e.stream, e.nid, e.room); err != nil {
				return nil, false, fmt.Errorf("storage: queue event for %s: %w", d, err)
			}
			if !touched[d] {
				touched[d] = true
				dests = append(dests, d)
			}
		}
		// A local user who joins tells the room's other servers their
		// presence (as Synapse does), which those had no reason to hear of.
		if e.membership.String == "join" && e.stateKey.Valid && strings.HasSuffix(e.stateKey.String, ":"+server) {
			if err := queueJoinPresence(ctx, q, e.stateKey.String, server, targets); err != nil {
				return nil, false, err
			}
		}
	}
	joined, err := queueRemoteJoinPresence(ctx, q, pos, next, server)
	if err != nil {
		return nil, false, err
	}
	for _, d := range joined {
		if !touched[d] {
			touched[d] = true
			dests = append(dests, d)
		}
	}
	if next > pos {
		if _, err := q.ExecContext(ctx, sqlFedSetPosition, next); err != nil {
			return nil, false, fmt.Errorf("storage: federation stream position: %w", err)
		}
	}
	return dests, more, nil
}

// queueRemoteJoinPresence queues, for each server whose user joined a room
// among the events (pos, next] and that no other user of shares the room
// with us, the current presence of the local users in that room (as Synapse
// does: that server had no reason to hear of them before). It returns the
// servers it queued for.
func queueRemoteJoinPresence(ctx context.Context, q Queryer, pos, next int64, server string) ([]string, error) {
	if next <= pos {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, sqlFedRemoteJoins, pos, next, server)
	if err != nil {
		return nil, fmt.Errorf("storage: remote joins: %w", err)
	}
	type join struct {
		room   int64
		domain string
	}
	var joins []join
	for rows.Next() {
		var j join
		var userID string
		if err := rows.Scan(&j.room, &userID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: remote joins: %w", err)
		}
		if _, j.domain, _ = strings.Cut(userID, ":"); j.domain != "" {
			joins = append(joins, j)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: remote joins: %w", err)
	}
	var dests []string
	done := map[join]bool{}
	for _, j := range joins {
		if done[j] {
			continue
		}
		done[j] = true
		locals, err := roomLocalMembers(ctx, q, j.room, server)
		if err != nil {
			return nil, err
		}
		for _, u := range locals {
			if err := queueJoinPresence(ctx, q, u, server, []string{j.domain}); err != nil {
				return nil, err
			}
		}
		if len(locals) > 0 && !slices.Contains(dests, j.domain) {
			dests = append(dests, j.domain)
		}
	}
	return dests, nil
}

func roomLocalMembers(ctx context.Context, q Queryer, room int64, server string) ([]string, error) {
	rows, err := q.QueryContext(ctx, sqlFedLocalMembers, room, server)
	if err != nil {
		return nil, fmt.Errorf("storage: local members of a room: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("storage: local members of a room: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func roomServers(ctx context.Context, q Queryer, room int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, sqlFedRoomServers, room)
	if err != nil {
		return nil, fmt.Errorf("storage: servers in room: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("storage: servers in room: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// QueueEDU queues an EDU; see core.FederationQueueStore.
func (s *FederationQueueStore) QueueEDU(ctx context.Context, destination, eduType string, content json.RawMessage) error {
	if destination == "" || eduType == "" || !json.Valid(content) {
		return invalid("an EDU needs a destination, a type and JSON content")
	}
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlFedQueueEDU, destination, eduType, string(content))
		return wrapErr("queue EDU for "+destination, err)
	})
}

// NextBatch returns the oldest queued items of destination; see
// core.FederationQueueStore.
func (s *FederationQueueStore) NextBatch(ctx context.Context, destination string, maxPDUs, maxEDUs int) (core.OutboundBatch, error) {
	var b core.OutboundBatch
	err := s.db.Read(ctx, func(q Queryer) error {
		b = core.OutboundBatch{}
		rows, err := q.QueryContext(ctx, sqlFedBatchPDUs, destination, maxPDUs)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p core.QueuedPDU
			var ev storedEventJSON
			if err := rows.Scan(append([]any{&p.Position}, ev.dest()...)...); err != nil {
				rows.Close()
				return err
			}
			js, err := ev.json()
			if err != nil {
				rows.Close()
				return err
			}
			p.RoomID, p.EventID, p.JSON = ev.f.RoomID, ev.f.EventID, js
			b.PDUs = append(b.PDUs, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = q.QueryContext(ctx, sqlFedBatchEDUs, destination, maxEDUs); err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e core.QueuedEDU
			var content string
			if err := rows.Scan(&e.Position, &e.Type, &content); err != nil {
				return err
			}
			e.Content = json.RawMessage(content)
			b.EDUs = append(b.EDUs, e)
		}
		return rows.Err()
	})
	if err != nil {
		return core.OutboundBatch{}, fmt.Errorf("storage: batch for %s: %w", destination, err)
	}
	return b, nil
}

// BatchSent removes a delivered batch; see core.FederationQueueStore.
func (s *FederationQueueStore) BatchSent(ctx context.Context, destination string, b core.OutboundBatch) error {
	return s.db.Write(ctx, func(q Queryer) error {
		var last sql.NullInt64
		for _, p := range b.PDUs {
			if _, err := q.ExecContext(ctx, sqlFedDropPDU, destination, p.Position); err != nil {
				return fmt.Errorf("storage: sent PDU for %s: %w", destination, err)
			}
			last = sql.NullInt64{Int64: max(last.Int64, p.Position), Valid: true}
		}
		for _, e := range b.EDUs {
			if _, err := q.ExecContext(ctx, sqlFedDropEDU, destination, e.Position); err != nil {
				return fmt.Errorf("storage: sent EDU for %s: %w", destination, err)
			}
		}
		_, err := q.ExecContext(ctx, sqlFedSent, destination, last)
		return wrapErr("destination "+destination, err)
	})
}

// SendFailed records a failed attempt; see core.FederationQueueStore.
func (s *FederationQueueStore) SendFailed(ctx context.Context, destination string, nowMS, interval int64) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlFedFailed, destination, nowMS, nowMS, interval)
		return wrapErr("destination "+destination, err)
	})
}

// ResetRetry clears the backoff of destination; see
// core.FederationQueueStore.
func (s *FederationQueueStore) ResetRetry(ctx context.Context, destination string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlFedReset, destination)
		return wrapErr("destination "+destination, err)
	})
}

// Retry returns the retry state of destination; see
// core.FederationQueueStore.
func (s *FederationQueueStore) Retry(ctx context.Context, destination string) (core.DestinationRetry, error) {
	r := core.DestinationRetry{Destination: destination}
	err := s.db.Read(ctx, func(q Queryer) error {
		err := q.QueryRowContext(ctx, sqlFedRetry, destination).Scan(&r.FailureTS, &r.RetryLastTS, &r.RetryInterval)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return r, fmt.Errorf("storage: destination %s: %w", destination, err)
	}
	return r, nil
}

// CatchUp keeps the newest queued PDU of each room; see
// core.FederationQueueStore.
func (s *FederationQueueStore) CatchUp(ctx context.Context, destination string) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, sqlFedCatchUp, destination)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage: catch-up of %s: %w", destination, err)
	}
	return int(n), nil
}

// PendingDestinations lists the destinations with something queued; see
// core.FederationQueueStore.
func (s *FederationQueueStore) PendingDestinations(ctx context.Context) ([]core.DestinationRetry, error) {
	var out []core.DestinationRetry
	err := s.db.Read(ctx, func(q Queryer) error {
		out = nil
		rows, err := q.QueryContext(ctx, sqlFedPending)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r core.DestinationRetry
			if err := rows.Scan(&r.Destination, &r.FailureTS, &r.RetryLastTS, &r.RetryInterval); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: pending destinations: %w", err)
	}
	return out, nil
}
