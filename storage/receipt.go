package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/push"
)

// receiptStream numbers receipt changes.
var receiptStream = StreamIDs{Name: "receipts", Step: 1}

// ReceiptStore keeps read receipts. It implements core.ReceiptStore and,
// for /sync, the receipt source of core/clientsync.
type ReceiptStore struct {
	db *DB
}

var (
	_ core.ReceiptStore        = (*ReceiptStore)(nil)
	_ clientsync.ReceiptSource = (*ReceiptStore)(nil)
)

// NewReceiptStore returns the receipt store of db.
func NewReceiptStore(db *DB) *ReceiptStore { return &ReceiptStore{db: db} }

const (
	sqlReceiptEvent = `SELECT e.event_nid, e.room_nid, e.stream_ordering, r.room_id FROM events e
		JOIN rooms r ON r.room_nid = e.room_nid WHERE e.event_id = ?`
	// The stored JSON lacks the members its row holds (eventjson.go); the
	// thread is read from its content only.
	sqlReceiptEventJSON = "SELECT json FROM event_json WHERE event_nid = ?"
	sqlReceiptCurrent   = `SELECT event_stream FROM receipts
		WHERE room_nid = ? AND user_id = ? AND receipt_type = ? AND thread_id = ?`
	sqlReceiptUpsert = `INSERT INTO receipts (room_nid, user_id, receipt_type, thread_id, event_id, event_stream, ts, stream_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (room_nid, user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id,
			event_stream = excluded.event_stream, ts = excluded.ts, stream_id = excluded.stream_id`
)

// receiptEvent is what a receipt needs to know of its event.
type receiptEvent struct {
	nid, roomNID, stream int64
}

// findRoomEvent looks an event of roomID up in q. It returns an error
// wrapping core.ErrNotFound if it is not stored in that room.
func findRoomEvent(ctx context.Context, q Queryer, roomID, eventID string) (receiptEvent, error) {
	var e receiptEvent
	var room string
	err := q.QueryRowContext(ctx, sqlReceiptEvent, eventID).Scan(&e.nid, &e.roomNID, &e.stream, &room)
	if errors.Is(err, sql.ErrNoRows) || err == nil && room != roomID {
		return e, notFound("event %s in %s", eventID, roomID)
	}
	if err != nil {
		return e, fmt.Errorf("storage: event %s: %w", eventID, err)
	}
	return e, nil
}

// SetReceipt implements core.ReceiptStore.
func (s *ReceiptStore) SetReceipt(ctx context.Context, r core.Receipt) (bool, error) {
	changed := false
	err := s.db.Write(ctx, func(q Queryer) error {
		var err error
		changed, err = setReceipt(ctx, q, r)
		return err
	})
	return changed, err
}

func setReceipt(ctx context.Context, q Queryer, r core.Receipt) (bool, error) {
	ev, err := findRoomEvent(ctx, q, r.RoomID, r.EventID)
	if err != nil {
		return false, err
	}
	if r.ThreadID != "" {
		if err := checkReceiptThread(ctx, q, ev.nid, r); err != nil {
			return false, err
		}
	}
	var cur int64
	err = q.QueryRowContext(ctx, sqlReceiptCurrent, ev.roomNID, r.UserID, r.Type, r.ThreadID).Scan(&cur)
	switch {
	case err == nil && cur >= ev.stream:
		return false, nil // not ahead of the stored receipt
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("storage: receipt: %w", err)
	}
	pos, err := receiptStream.Next(ctx, q, 1)
	if err != nil {
		return false, err
	}
	_, err = q.ExecContext(ctx, sqlReceiptUpsert, ev.roomNID, r.UserID, r.Type, r.ThreadID, r.EventID, ev.stream, r.TS, pos)
	if err != nil {
		return false, fmt.Errorf("storage: receipt: %w", err)
	}
	return true, nil
}

// checkReceiptThread refuses a threaded receipt for an event outside the
// thread: a receipt in thread T is for T's root or for an event whose
// m.thread relation names T; one in "main" for an event in no thread.
func checkReceiptThread(ctx context.Context, q Queryer, nid int64, r core.Receipt) error {
	var js string
	if err := q.QueryRowContext(ctx, sqlReceiptEventJSON, nid).Scan(&js); err != nil {
		return fmt.Errorf("storage: event %s: %w", r.EventID, err)
	}
	e, err := push.NewEvent([]byte(js))
	if err != nil {
		return fmt.Errorf("storage: event %s: %w", r.EventID, err)
	}
	thread := e.ThreadID()
	if thread == r.ThreadID || r.ThreadID == r.EventID && thread == core.ThreadMain {
		return nil
	}
	return fmt.Errorf("storage: receipt: %w", core.ErrInvalidParam.WithMessage("event %s is not in thread %s", r.EventID, r.ThreadID))
}

// SetFullyRead implements core.ReceiptStore.
func (s *ReceiptStore) SetFullyRead(ctx context.Context, userID, roomID, eventID string) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(q Queryer) error {
		if _, err := findRoomEvent(ctx, q, roomID, eventID); err != nil {
			return err
		}
		content, err := json.Marshal(map[string]string{"event_id": eventID})
		if err != nil {
			return fmt.Errorf("storage: fully read marker: %w", err)
		}
		pos, err = setAccountData(ctx, q, userID, roomID, core.AccountDataFullyRead, content)
		return err
	})
	return pos, err
}

// ReceiptPosition returns the receipt stream's current position.
func (s *ReceiptStore) ReceiptPosition(ctx context.Context) (int64, error) {
	return s.db.position(ctx, receiptStream)
}

// receiptUser is one user's receipt in an m.receipt content.
type receiptUser struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id,omitempty"`
}

// ReceiptContents returns, per room of roomIDs with receipts changed at a
// position in (since, to], the m.receipt content of those receipts as
// userID may see them: m.read, and userID's own m.read.private.
func (s *ReceiptStore) ReceiptContents(ctx context.Context, userID string, roomIDs []string, since, to int64) (map[string]json.RawMessage, error) {
	if len(roomIDs) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	ids, err := json.Marshal(roomIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: receipts: %w", err)
	}
	rows, err := s.db.Cached().QueryContext(ctx, `SELECT r.room_id, c.user_id, c.receipt_type, c.thread_id, c.event_id, c.ts
		FROM receipts c JOIN rooms r ON r.room_nid = c.room_nid
		WHERE c.stream_id > ? AND c.stream_id <= ? AND r.room_id IN (SELECT value FROM json_each(?))
			AND (c.receipt_type = ? OR c.receipt_type = ? AND c.user_id = ?)
		ORDER BY c.stream_id`, since, to, string(ids), core.ReceiptRead, core.ReceiptReadPrivate, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: receipts: %w", err)
	}
	return receiptContents(rows, nil)
}

// sqlReceiptChanges reads the receipts of every room changed in a stream
// range (?1, ?2] that user ?3 may see.
const sqlReceiptChanges = `SELECT r.room_id, c.user_id, c.receipt_type, c.thread_id, c.event_id, c.ts
	FROM receipts c JOIN rooms r ON r.room_nid = c.room_nid
	WHERE c.stream_id > ?1 AND c.stream_id <= ?2
		AND (c.receipt_type = 'm.read' OR c.receipt_type = 'm.read.private' AND c.user_id = ?3)
	ORDER BY c.stream_id`

// ReceiptChanges is ReceiptContents for the rooms where in is true: it
// reads the receipts changed in (since, to] in any room and keeps those,
// so a user in thousands of rooms does not send their list to SQLite.
func (s *ReceiptStore) ReceiptChanges(ctx context.Context, userID string, in func(roomID string) bool, since, to int64) (map[string]json.RawMessage, error) {
	if since >= to {
		return map[string]json.RawMessage{}, nil
	}
	rows, err := s.db.Cached().QueryContext(ctx, sqlReceiptChanges, since, to, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: receipts: %w", err)
	}
	return receiptContents(rows, in)
}

// receiptContents builds the m.receipt contents of rows, keeping the rooms
// where in is true (all of them when in is nil), and closes rows.
func receiptContents(rows *sql.Rows, in func(roomID string) bool) (map[string]json.RawMessage, error) {
	defer rows.Close()
	// room -> event -> type -> user
	byRoom := map[string]map[string]map[string]map[string]receiptUser{}
	for rows.Next() {
		var room, user, typ, thread, event string
		var ts int64
		if err := rows.Scan(&room, &user, &typ, &thread, &event, &ts); err != nil {
			return nil, fmt.Errorf("storage: receipts: %w", err)
		}
		if in != nil && !in(room) {
			continue
		}
		evs := byRoom[room]
		if evs == nil {
			evs = map[string]map[string]map[string]receiptUser{}
			byRoom[room] = evs
		}
		types := evs[event]
		if types == nil {
			types = map[string]map[string]receiptUser{}
			evs[event] = types
		}
		users := types[typ]
		if users == nil {
			users = map[string]receiptUser{}
			types[typ] = users
		}
		users[user] = receiptUser{TS: ts, ThreadID: thread}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: receipts: %w", err)
	}
	out := make(map[string]json.RawMessage, len(byRoom))
	for room, evs := range byRoom {
		b, err := json.Marshal(evs)
		if err != nil {
			return nil, fmt.Errorf("storage: receipts: %w", err)
		}
		out[room] = b
	}
	return out, nil
}
