package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// presenceStream numbers visible presence changes.
var presenceStream = StreamIDs{Name: "presence", Step: 1}

// activityEvery is how stale the recorded last activity of an online user
// may get before a /sync refreshes it (without a stream position: clients
// see currently_active instead).
const activityEvery = time.Minute

// PresenceStore keeps users' presence. It implements core.PresenceStore
// and, for /sync, the presence source of core/clientsync.
type PresenceStore struct {
	db *DB
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

var (
	_ core.PresenceStore        = (*PresenceStore)(nil)
	_ core.PresenceActivity     = (*PresenceStore)(nil)
	_ clientsync.PresenceSource = (*PresenceStore)(nil)
)

// NewPresenceStore returns the presence store of db.
func NewPresenceStore(db *DB) *PresenceStore { return &PresenceStore{db: db} }

func (s *PresenceStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

const (
	sqlPresenceGet    = "SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = ?"
	sqlPresenceUpsert = `INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_id) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
			last_active_ts = excluded.last_active_ts, stream_id = excluded.stream_id`
	sqlPresenceActive = "UPDATE presence SET last_active_ts = ? WHERE user_id = ?"
)

func getPresence(ctx context.Context, q Queryer, userID string) (core.Presence, bool, error) {
	p := core.Presence{UserID: userID}
	var msg sql.NullString
	err := q.QueryRowContext(ctx, sqlPresenceGet, userID).Scan(&p.Presence, &msg, &p.LastActiveTS)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("storage: presence of %s: %w", userID, err)
	}
	if msg.Valid {
		p.StatusMsg = &msg.String
	}
	return p, true, nil
}

func putPresence(ctx context.Context, q Queryer, p core.Presence) error {
	pos, err := presenceStream.Next(ctx, q, 1)
	if err != nil {
		return err
	}
	var msg sql.NullString
	if p.StatusMsg != nil {
		msg = sql.NullString{String: *p.StatusMsg, Valid: true}
	}
	_, err = q.ExecContext(ctx, sqlPresenceUpsert, p.UserID, p.Presence, msg, p.LastActiveTS, pos)
	return wrapErr("presence of "+p.UserID, err)
}

// SetPresence implements core.PresenceStore.
func (s *PresenceStore) SetPresence(ctx context.Context, userID, state string, statusMsg *string) error {
	if !core.ValidPresence(state) {
		return fmt.Errorf("storage: presence: %w", core.ErrInvalidParam.WithMessage("unknown presence %q", state))
	}
	now := s.now().UnixMilli()
	return s.db.Write(ctx, func(q Queryer) error {
		return putPresence(ctx, q, core.Presence{UserID: userID, Presence: state, StatusMsg: statusMsg, LastActiveTS: now})
	})
}

// SetLastActive implements core.PresenceActivity.
func (s *PresenceStore) SetLastActive(ctx context.Context, userID string, ts int64) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlPresenceActive, ts, userID)
		return wrapErr("presence of "+userID, err)
	})
}

// Presence implements core.PresenceStore.
func (s *PresenceStore) Presence(ctx context.Context, userID string) (core.Presence, error) {
	p, ok, err := getPresence(ctx, s.db.Cached(), userID)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, notFound("presence of %s", userID)
	}
	return p, nil
}

// SyncPresence records that userID is syncing with set_presence state:
// "online" marks them online and active, "unavailable" idle, "offline"
// changes nothing. The status message is kept. It writes only when
// something changes: a new stream position when what others see changes,
// else at most one refresh of the last activity per minute.
func (s *PresenceStore) SyncPresence(ctx context.Context, userID, state string) error {
	if state == core.PresenceOffline {
		return nil
	}
	if state == "" {
		state = core.PresenceOnline
	}
	if !core.ValidPresence(state) {
		return fmt.Errorf("storage: presence: %w", core.ErrInvalidParam.WithMessage("unknown presence %q", state))
	}
	now := s.now()
	cur, ok, err := getPresence(ctx, s.db.Cached(), userID)
	if err != nil {
		return err
	}
	if ok && !s.presenceChanges(cur, state, now) && (state != core.PresenceOnline || now.UnixMilli()-cur.LastActiveTS < activityEvery.Milliseconds()) {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		cur, ok, err := getPresence(ctx, q, userID)
		if err != nil {
			return err
		}
		next := core.Presence{UserID: userID, Presence: state, StatusMsg: cur.StatusMsg, LastActiveTS: cur.LastActiveTS}
		if state == core.PresenceOnline {
			next.LastActiveTS = now.UnixMilli()
		}
		if !ok || s.presenceChanges(cur, state, now) {
			return putPresence(ctx, q, next)
		}
		_, err = q.ExecContext(ctx, sqlPresenceActive, next.LastActiveTS, userID)
		return wrapErr("presence of "+userID, err)
	})
}

// presenceChanges reports whether setting state (with activity, for
// online) changes what others see of cur.
func (s *PresenceStore) presenceChanges(cur core.Presence, state string, now time.Time) bool {
	if cur.Presence != state {
		return true
	}
	shown, _ := cur.Shown(now)
	return shown != state // an idle online user becoming active again
}

const (
	sqlPresenceIdleAny = `SELECT 1 FROM presence WHERE state = 'online' AND last_active_ts > 0 AND last_active_ts < ? LIMIT 1`
	sqlPresenceIdle    = `SELECT user_id FROM presence WHERE state = 'online' AND last_active_ts > 0 AND last_active_ts < ?
		ORDER BY last_active_ts, user_id`
	sqlPresenceSetIdle = "UPDATE presence SET state = 'unavailable', stream_id = ? WHERE user_id = ?"
)

// MarkIdle records as unavailable the online users inactive for longer
// than core.IdleAfter, each at a new position of the presence stream, so
// /sync delivers the change (the spec's idle timeout). It reads only when
// no one is idle; a user who comes back is online again by SyncPresence
// or SetPresence.
func (s *PresenceStore) MarkIdle(ctx context.Context) error {
	cutoff := s.now().Add(-core.IdleAfter).UnixMilli()
	var one int
	err := s.db.Cached().QueryRowContext(ctx, sqlPresenceIdleAny, cutoff).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: idle presence: %w", err)
	}
	return s.db.Write(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlPresenceIdle, cutoff)
		if err != nil {
			return fmt.Errorf("storage: idle presence: %w", err)
		}
		var users []string
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return fmt.Errorf("storage: idle presence: %w", err)
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: idle presence: %w", err)
		}
		if len(users) == 0 {
			return nil
		}
		first, err := presenceStream.Next(ctx, q, len(users))
		if err != nil {
			return err
		}
		for i, u := range users {
			if _, err := q.ExecContext(ctx, sqlPresenceSetIdle, first+int64(i), u); err != nil {
				return wrapErr("presence of "+u, err)
			}
		}
		return nil
	})
}

// PresencePosition returns the presence stream's current position.
func (s *PresenceStore) PresencePosition(ctx context.Context) (int64, error) {
	return s.db.position(ctx, presenceStream)
}

// PresenceChanges returns the presence of userID and of the users sharing
// a joined room with them, for those changed at a position in (since, to].
func (s *PresenceStore) PresenceChanges(ctx context.Context, userID string, since, to int64) ([]core.Presence, error) {
	rows, err := s.db.Cached().QueryContext(ctx, `SELECT user_id, state, status_msg, last_active_ts FROM presence
		WHERE stream_id > ? AND stream_id <= ? AND (user_id = ? OR user_id IN (
			SELECT c.state_key FROM local_current_membership l
			JOIN current_state_events c ON c.room_nid = l.room_nid AND c.type = 'm.room.member' AND c.membership = 'join'
			WHERE l.user_id = ? AND l.membership = 'join'))
		ORDER BY stream_id`, since, to, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: presence: %w", err)
	}
	defer rows.Close()
	var out []core.Presence
	for rows.Next() {
		var p core.Presence
		var msg sql.NullString
		if err := rows.Scan(&p.UserID, &p.Presence, &msg, &p.LastActiveTS); err != nil {
			return nil, fmt.Errorf("storage: presence: %w", err)
		}
		if msg.Valid {
			p.StatusMsg = &msg.String
		}
		out = append(out, p)
	}
	return out, wrapErr("presence", rows.Err())
}
