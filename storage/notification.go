package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/push"
)

// NotificationStore reads the notifications push.Service finds (the event
// store records them with their event, from NewEvent.Notifications): it
// counts the unread ones and lists them for GET /notifications
// (core.NotificationStore), and is the notification source of
// core/clientsync for /sync's unread counts.
type NotificationStore struct {
	db *DB
}

var (
	_ core.NotificationStore        = (*NotificationStore)(nil)
	_ clientsync.NotificationSource = (*NotificationStore)(nil)
)

// NewNotificationStore returns the notification store of db.
func NewNotificationStore(db *DB) *NotificationStore {
	return &NotificationStore{db: db}
}

const sqlPushActionInsert = `INSERT INTO event_push_actions (user_id, event_nid, room_nid, stream_ordering, thread_id, actions, highlight, ts)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, event_nid) DO NOTHING`

// recordNotifications records notes, the notifications the push rules
// found for the event nid of room at stream position stream, in the
// transaction that stores the event: an event is never stored without
// them, and they cost no write of their own. A notification without a
// time takes ts.
func recordNotifications(ctx context.Context, q Queryer, nid, room, stream int64, notes []push.Notification, ts int64) error {
	for i := range notes {
		n := &notes[i]
		at := n.TS
		if at == 0 {
			at = ts
		}
		actions, err := json.Marshal(n.Actions.Raw)
		if err != nil {
			return fmt.Errorf("storage: push actions: %w", err)
		}
		if _, err := q.ExecContext(ctx, sqlPushActionInsert, n.UserID, nid, room, stream,
			n.Thread, string(actions), n.Actions.Highlight, at); err != nil {
			return fmt.Errorf("storage: push actions: %w", err)
		}
	}
	return nil
}

// receiptSent is the receipt type of the read position a user's own event
// sets: never sent to clients, and taking no position in the receipt
// stream (the event itself reaches /sync, with the new counts).
const receiptSent = "hearth.sent"

// sqlSentUnread asks whether user ?1 has notifications in room ?2 before
// stream position ?3 that their read position in thread ?4 (or the
// unthreaded one) does not cover yet.
const sqlSentUnread = `SELECT EXISTS (SELECT 1 FROM event_push_actions
	WHERE user_id = ?1 AND room_nid = ?2 AND stream_ordering < ?3 AND stream_ordering > COALESCE((SELECT MAX(event_stream) FROM receipts
		WHERE room_nid = ?2 AND user_id = ?1 AND receipt_type IN ('m.read', 'm.read.private', 'hearth.sent') AND thread_id IN ('', ?4)), 0))`

const sqlSentReceipt = `INSERT INTO receipts (room_nid, user_id, receipt_type, thread_id, event_id, event_stream, ts, stream_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (room_nid, user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id,
		event_stream = excluded.event_stream, ts = excluded.ts
	WHERE excluded.event_stream > receipts.event_stream`

// markSent moves userID's read position in thread of the room up to
// eventID, the user's own event at stream position stream: "When the user
// updates their read receipt (either by using API or by sending an event),
// notifications prior to and including that event MUST be marked as
// read." It runs in the transaction that stores the event (the persister
// calls it for each live event of a local sender), and writes only when
// the user has unread notifications before the event, so most sends write
// nothing.
func markSent(ctx context.Context, q Queryer, userID string, roomNID int64, eventID string, stream int64, thread string, ts int64) error {
	var unread bool
	err := q.QueryRowContext(ctx, sqlSentUnread, userID, roomNID, stream, thread).Scan(&unread)
	if err != nil || !unread {
		return wrapErr("read position of "+userID, err)
	}
	pos, err := receiptStream.Current(ctx, q)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, sqlSentReceipt, roomNID, userID, receiptSent, thread, eventID, stream, ts, pos)
	return wrapErr("read position of "+userID, err)
}

// eventThread returns the thread of an event's JSON as push rules and
// receipts name it: the root of an m.thread relation, else "main".
func eventThread(js []byte) string {
	if !bytes.Contains(js, []byte(`"m.thread"`)) {
		return "main"
	}
	var ev struct {
		Content struct {
			RelatesTo struct {
				RelType string `json:"rel_type"`
				EventID string `json:"event_id"`
			} `json:"m.relates_to"`
		} `json:"content"`
	}
	if json.Unmarshal(js, &ev) != nil || ev.Content.RelatesTo.RelType != "m.thread" || ev.Content.RelatesTo.EventID == "" {
		return "main"
	}
	return ev.Content.RelatesTo.EventID
}

// readPositions are a user's read-up-to stream positions in one room: the
// unthreaded one and one per thread, each the furthest of m.read,
// m.read.private and the user's own last event.
type readPositions struct {
	all     int64
	threads map[string]int64
}

// isRead reports whether a notification at stream in thread is read.
func (p readPositions) isRead(stream int64, thread string) bool {
	return stream <= p.all || stream <= p.threads[thread]
}

const sqlReadPositions = `SELECT thread_id, MAX(event_stream) FROM receipts
	WHERE room_nid = ? AND user_id = ? AND receipt_type IN ('m.read', 'm.read.private', 'hearth.sent') GROUP BY thread_id`

func loadReadPositions(ctx context.Context, q Queryer, userID string, roomNID int64) (readPositions, error) {
	p := readPositions{threads: map[string]int64{}}
	rows, err := q.QueryContext(ctx, sqlReadPositions, roomNID, userID)
	if err != nil {
		return p, fmt.Errorf("storage: read receipts of %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var thread string
		var pos int64
		if err := rows.Scan(&thread, &pos); err != nil {
			return p, fmt.Errorf("storage: read receipts of %s: %w", userID, err)
		}
		if thread == "" {
			p.all = pos
		} else {
			p.threads[thread] = pos
		}
	}
	return p, wrapErr("read receipts of "+userID, rows.Err())
}

// threadCounts are unread notification and highlight counts by thread.
type threadCounts map[string]struct{ notify, highlight int64 }

const (
	// sqlReadInThread counts the notifications of one thread between the
	// unthreaded read position and the thread's own.
	sqlReadInThread = `SELECT COUNT(*), COALESCE(SUM(highlight), 0) FROM event_push_actions
		WHERE user_id = ? AND room_nid = ? AND stream_ordering > ? AND stream_ordering <= ? AND thread_id = ?`
)

// sqlUnreadRooms counts user ?1's notifications after their unthreaded
// read position, by room and thread, in the rooms %s picks: one statement
// for all of them, each room's notifications found through
// event_push_actions_room from its read position on (CROSS JOIN keeps
// SQLite from walking all of the user's notifications instead).
const sqlUnreadRooms = `
	WITH wanted(room_nid, room_id, pos) AS MATERIALIZED (
		SELECT r.room_nid, r.room_id, COALESCE((SELECT MAX(c.event_stream) FROM receipts c
			WHERE c.room_nid = r.room_nid AND c.user_id = ?1 AND c.thread_id = ''
				AND c.receipt_type IN ('m.read', 'm.read.private', 'hearth.sent')), 0)
		FROM rooms r WHERE %s
	)
	SELECT w.room_id, w.room_nid, w.pos, a.thread_id, COUNT(*), SUM(a.highlight)
	FROM wanted w CROSS JOIN event_push_actions a ON a.user_id = ?1 AND a.room_nid = w.room_nid AND a.stream_ordering > w.pos
	GROUP BY w.room_nid, a.thread_id`

var (
	// sqlUnreadInRooms is sqlUnreadRooms for the rooms of a JSON array of
	// room IDs (?2).
	sqlUnreadInRooms = fmt.Sprintf(sqlUnreadRooms, "r.room_id IN (SELECT value FROM json_each(?2))")
	// sqlUnreadAllRooms is sqlUnreadRooms for every room where the user
	// has notifications.
	sqlUnreadAllRooms = fmt.Sprintf(sqlUnreadRooms, "r.room_nid IN (SELECT DISTINCT room_nid FROM event_push_actions WHERE user_id = ?1)")
)

// sqlThreadReadPositions reads user ?1's read positions per thread in the
// rooms of a JSON array of room NIDs (?2).
const sqlThreadReadPositions = `SELECT room_nid, thread_id, MAX(event_stream) FROM receipts
	WHERE room_nid IN (SELECT value FROM json_each(?2)) AND user_id = ?1 AND thread_id <> ''
		AND receipt_type IN ('m.read', 'm.read.private', 'hearth.sent')
	GROUP BY room_nid, thread_id`

// roomsUnread counts userID's unread notifications by room ID and thread
// in the rooms query (sqlUnreadInRooms or sqlUnreadAllRooms, with args
// after the user) picks: SQLite counts the rows after each room's
// unthreaded receipt, and for each thread whose own receipt is further,
// those it covers are taken off. Rooms without unread notifications are
// absent. It costs one statement when no room has unread notifications,
// two when none of those has a thread read further than the room, and one
// more for each thread that is.
func roomsUnread(ctx context.Context, q Queryer, userID, query string, args ...any) (map[string]threadCounts, error) {
	fail := func(err error) error { return fmt.Errorf("storage: unread counts of %s: %w", userID, err) }
	rows, err := q.QueryContext(ctx, query, append([]any{userID}, args...)...)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	type room struct {
		id       string
		nid, pos int64
	}
	out := map[string]threadCounts{}
	byNID := map[int64]room{}
	var nids []int64
	for rows.Next() {
		var rm room
		var thread string
		var c struct{ notify, highlight int64 }
		if err := rows.Scan(&rm.id, &rm.nid, &rm.pos, &thread, &c.notify, &c.highlight); err != nil {
			return nil, fail(err)
		}
		if out[rm.id] == nil {
			out[rm.id] = threadCounts{}
			byNID[rm.nid] = rm
			nids = append(nids, rm.nid)
		}
		out[rm.id][thread] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	rows.Close()
	if len(nids) == 0 {
		return out, nil
	}
	list, err := json.Marshal(nids)
	if err != nil {
		return nil, fail(err)
	}
	type further struct {
		room   room
		thread string
		pos    int64
	}
	var covered []further
	rows, err = q.QueryContext(ctx, sqlThreadReadPositions, userID, string(list))
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var nid, pos int64
		var thread string
		if err := rows.Scan(&nid, &thread, &pos); err != nil {
			return nil, fail(err)
		}
		rm := byNID[nid]
		if _, ok := out[rm.id][thread]; ok && pos > rm.pos {
			covered = append(covered, further{rm, thread, pos})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	rows.Close()
	for _, f := range covered {
		var n, h int64
		if err := q.QueryRowContext(ctx, sqlReadInThread, userID, f.room.nid, f.room.pos, f.pos, f.thread).Scan(&n, &h); err != nil {
			return nil, fail(err)
		}
		counts := out[f.room.id]
		c := counts[f.thread]
		c.notify -= n
		c.highlight -= h
		if c.notify <= 0 {
			delete(counts, f.thread)
			if len(counts) == 0 {
				delete(out, f.room.id)
			}
			continue
		}
		counts[f.thread] = c
	}
	return out, nil
}

// UnreadTotal returns userID's count of unread notifications in all rooms
// (the "unread" count sent to push gateways).
func (s *NotificationStore) UnreadTotal(ctx context.Context, userID string) (int64, error) {
	var total int64
	err := s.db.Read(ctx, func(q Queryer) error {
		rooms, err := roomsUnread(ctx, q, userID, sqlUnreadAllRooms)
		if err != nil {
			return err
		}
		for _, c := range rooms {
			for _, x := range c {
				total += x.notify
			}
		}
		return nil
	})
	return total, err
}

// RoomUnread returns userID's unread notification and highlight counts in
// roomID: for the whole room, and for the main timeline and each thread
// root with unread notifications. An unknown room has none.
func (s *NotificationStore) RoomUnread(ctx context.Context, userID, roomID string) (all core.UnreadCounts, byThread map[string]core.UnreadCounts, err error) {
	rooms, err := s.RoomsUnread(ctx, userID, []string{roomID})
	byThread = rooms[roomID]
	if byThread == nil {
		byThread = map[string]core.UnreadCounts{}
	}
	for _, x := range byThread {
		all.Notifications += x.Notifications
		all.Highlights += x.Highlights
	}
	return all, byThread, err
}

// RoomsUnread returns userID's unread notification and highlight counts in
// each of roomIDs that has some, per thread; see
// clientsync.NotificationSource. It reads all the rooms in one
// transaction and, in the usual case, one or two statements.
func (s *NotificationStore) RoomsUnread(ctx context.Context, userID string, roomIDs []string) (map[string]map[string]core.UnreadCounts, error) {
	out := map[string]map[string]core.UnreadCounts{}
	if len(roomIDs) == 0 {
		return out, nil
	}
	list, err := json.Marshal(roomIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: unread counts of %s: %w", userID, err)
	}
	err = s.db.Read(ctx, func(q Queryer) error {
		rooms, err := roomsUnread(ctx, q, userID, sqlUnreadInRooms, string(list))
		if err != nil {
			return err
		}
		for id, c := range rooms {
			m := make(map[string]core.UnreadCounts, len(c))
			for thread, x := range c {
				m[thread] = core.UnreadCounts{Notifications: x.notify, Highlights: x.highlight}
			}
			out[id] = m
		}
		return nil
	})
	return out, err
}

// Notifications implements core.NotificationStore.
func (s *NotificationStore) Notifications(ctx context.Context, userID string, from int64, limit int, only string) ([]core.Notification, int64, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if from <= 0 {
		from = 1<<63 - 1
	}
	var out []core.Notification
	var next int64
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, `SELECT a.stream_ordering, a.room_nid, r.room_id, e.event_id, a.thread_id, a.actions, a.ts
			FROM event_push_actions a JOIN events e ON e.event_nid = a.event_nid JOIN rooms r ON r.room_nid = a.room_nid
			WHERE a.user_id = ? AND a.stream_ordering < ? AND (? = 0 OR a.highlight = 1)
			ORDER BY a.stream_ordering DESC LIMIT ?`, userID, from, only == "highlight", limit+1)
		if err != nil {
			return fmt.Errorf("storage: notifications of %s: %w", userID, err)
		}
		type row struct {
			n       core.Notification
			roomNID int64
			thread  string
		}
		var got []row
		for rows.Next() {
			var x row
			var actions string
			if err := rows.Scan(&x.n.Stream, &x.roomNID, &x.n.RoomID, &x.n.EventID, &x.thread, &actions, &x.n.TS); err != nil {
				rows.Close()
				return fmt.Errorf("storage: notifications of %s: %w", userID, err)
			}
			if json.Unmarshal([]byte(actions), &x.n.Actions) != nil || x.n.Actions == nil {
				x.n.Actions = []json.RawMessage{}
			}
			got = append(got, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: notifications of %s: %w", userID, err)
		}
		if len(got) > limit {
			got = got[:limit]
			next = got[limit-1].n.Stream
		}
		positions := map[int64]readPositions{}
		for _, x := range got {
			pos, ok := positions[x.roomNID]
			if !ok {
				if pos, err = loadReadPositions(ctx, q, userID, x.roomNID); err != nil {
					return err
				}
				positions[x.roomNID] = pos
			}
			x.n.Read = pos.isRead(x.n.Stream, x.thread)
			out = append(out, x.n)
		}
		return nil
	})
	return out, next, err
}
