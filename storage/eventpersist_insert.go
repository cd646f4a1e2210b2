package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"hearth.dev/hearth/core"
)

// receivedTS is when the server received or created ev, now if unset.
func receivedTS(ev *core.NewEvent) int64 {
	if ev.ReceivedTS != 0 {
		return ev.ReceivedTS
	}
	return time.Now().UnixMilli()
}

// sqlInsertEvent inserts an event's row into the room whose ID is ?2
// (NULL if there is none, which the NOT NULL constraint refuses) and
// returns the keys of both.
const sqlInsertEvent = `
	INSERT INTO events (event_id, room_nid, type, state_key, sender, stream_ordering,
		topological_ordering, origin_server_ts, received_ts, outlier, soft_failed,
		rejection_reason, contains_url)
	VALUES (?1, (SELECT room_nid FROM rooms WHERE room_id = ?2),
		?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
	RETURNING event_nid, room_nid`

// sqlInsertEventIn inserts an event's row into room ?2, known: without
// RETURNING (writerkeys.go), its event_nid is the last rowid inserted.
const sqlInsertEventIn = `
	INSERT INTO events (event_id, room_nid, type, state_key, sender, stream_ordering,
		topological_ordering, origin_server_ts, received_ts, outlier, soft_failed,
		rejection_reason, contains_url)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`

// insert writes a new event's rows, except what only non-outliers get, in
// room (0: the room named by the event: its key the writer remembers, or
// looked up as the row is inserted).
// It returns the event's and the room's keys.
func (p *persister) insert(ev *core.NewEvent, room, so int64, rejected sql.NullString) (int64, int64, error) {
	received := receivedTS(ev)
	var stateKey sql.NullString
	if ev.StateKey != nil {
		stateKey = sql.NullString{String: *ev.StateKey, Valid: true}
	}
	keys := writerKeysOf(p.q)
	if room == 0 {
		room, _ = keys.roomOf(ev.RoomID)
	}
	var nid int64
	if room != 0 {
		res, err := p.q.ExecContext(p.ctx, sqlInsertEventIn,
			ev.EventID, room, ev.Type, stateKey, ev.Sender, so,
			ev.Depth, ev.OriginServerTS, received, ev.Outlier, ev.SoftFailed,
			rejected, ev.ContainsURL)
		if err == nil {
			nid, err = res.LastInsertId()
		}
		if err != nil {
			return 0, 0, fmt.Errorf("storage: insert event %s: %w", ev.EventID, err)
		}
	} else {
		err := p.q.QueryRowContext(p.ctx, sqlInsertEvent,
			ev.EventID, ev.RoomID, ev.Type, stateKey, ev.Sender, so,
			ev.Depth, ev.OriginServerTS, received, ev.Outlier, ev.SoftFailed,
			rejected, ev.ContainsURL).Scan(&nid, &room)
		if errors.Is(err, sqlite3.CONSTRAINT_NOTNULL) {
			return 0, 0, notFound("room %s", ev.RoomID)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("storage: insert event %s: %w", ev.EventID, err)
		}
	}
	if keys != nil {
		keys.setRoom(ev.RoomID, room)
	}
	p.rooms[ev.RoomID] = room
	var meta any
	if m := stripTxnMetadata(ev.InternalMetadata, ev.Txn); len(m) > 0 {
		meta = string(m)
	}
	// The JSON is kept without what the row above holds and its auth
	// events, stored once for the events that share them (eventjson.go).
	f := eventRowFields{EventID: ev.EventID, RoomID: ev.RoomID, Type: ev.Type, Sender: ev.Sender,
		StateKey: ev.StateKey, Depth: ev.Depth, OriginServerTS: ev.OriginServerTS, StripAuth: true}
	js, stripped := stripEventJSON(ev.JSON, &f)
	var authSet any
	if stripped&strippedAuthEvents != 0 {
		id, err := p.authSet(f.authRaw)
		if err != nil {
			return 0, 0, err
		}
		authSet = id
	}
	if _, err := p.q.ExecContext(p.ctx,
		"INSERT INTO event_json (event_nid, internal_metadata, json, format_version, stripped, auth_set) VALUES (?, ?, ?, ?, ?, ?)",
		nid, meta, js, ev.FormatVersion, stripped, authSet); err != nil {
		return 0, 0, fmt.Errorf("storage: insert event %s JSON: %w", ev.EventID, err)
	}
	if ev.Type == typeMember {
		if _, err := p.q.ExecContext(p.ctx,
			"INSERT INTO room_memberships (event_nid, room_nid, user_id, sender, membership) VALUES (?, ?, ?, ?, ?)",
			nid, room, *ev.StateKey, ev.Sender, ev.Membership); err != nil {
			return 0, 0, fmt.Errorf("storage: membership of %s: %w", ev.EventID, err)
		}
		if ev.OutOfBandMembership {
			if err := p.setLocalMembership(*ev.StateKey, room, nid, ev.Membership); err != nil {
				return 0, 0, err
			}
		}
	}
	if ev.Type == typeRedaction && ev.Redacts != "" {
		if _, err := p.q.ExecContext(p.ctx,
			"INSERT INTO redactions (event_nid, redacts) VALUES (?, ?)", nid, ev.Redacts); err != nil {
			return 0, 0, fmt.Errorf("storage: redaction %s: %w", ev.EventID, err)
		}
		p.noteSearchStale()
	}
	if ev.Txn != nil {
		if err := p.storeTxn(ev, nid, room, received); err != nil {
			return 0, 0, err
		}
	}
	return nid, room, nil
}
