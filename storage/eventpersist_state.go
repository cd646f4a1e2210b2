package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
)

// sqlPriorMembership and sqlRoomTextBefore are run by setLocalMembership
// to tell whether a membership change makes the searches' counts and
// windows kept stale (searchcountcache.go, searchrankcache.go).
const (
	// sqlPriorMembership reads a local user's membership of a room
	// before a write changes it.
	sqlPriorMembership = `SELECT membership FROM local_current_membership WHERE user_id = ?1 AND room_nid = ?2`
	// sqlRoomTextBefore reports whether room ?1 holds a timeline event of
	// an indexed type stored before event ?2 (outliers are not found by
	// searches; one joining the timeline moves the generation). The
	// room's events are walked through a room index (outlier = 0 lets
	// the partial ones serve, +event_nid keeps the planner off a walk of
	// every older event_nid).
	sqlRoomTextBefore = `SELECT EXISTS (SELECT 1 FROM events
	WHERE room_nid = ?1 AND outlier = 0 AND +event_nid < ?2 AND type IN ` + sqlIndexedTypes + `)`
)

// searchScoped reports whether a membership puts its room in the scopes
// of a user's rooms (search.go): a join, a leave or a ban.
func searchScoped(membership string) bool {
	return membership == "join" || membership == "leave" || membership == "ban"
}

// setLocalMembership records a local user's latest membership of a room
// (only local users are recorded).
func (p *persister) setLocalMembership(userID string, room, nid int64, membership string) error {
	local, err := p.isLocal(userID)
	if err != nil || !local {
		return err
	}
	// The scopes of a user's rooms take those of a join, a leave or a
	// ban (search.go). A change from one of them to another, or out of
	// them, makes what searches keep stale; a change into them from
	// outside (none, an invite, a knock) does only when the room held
	// text before it: the room enters a scope whole (the ranks kept,
	// searchrankcache.go), while the counts after the joins gain only
	// what follows (searchcountcache.go).
	var prior string
	switch err := p.q.QueryRowContext(p.ctx, sqlPriorMembership, userID, room).Scan(&prior); {
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	case searchScoped(prior):
		p.noteSearchStale()
	case searchScoped(membership):
		var older bool
		if err := p.q.QueryRowContext(p.ctx, sqlRoomTextBefore, room, nid).Scan(&older); err != nil {
			return fmt.Errorf("storage: membership of %s: %w", userID, err)
		}
		if older {
			p.noteSearchStale()
		}
	}
	_, err = p.q.ExecContext(p.ctx, `
		INSERT INTO local_current_membership (user_id, room_nid, event_nid, membership) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, room_nid) DO UPDATE SET event_nid = excluded.event_nid, membership = excluded.membership`,
		userID, room, nid, membership)
	if err != nil {
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	}
	return noteMemberChange(p, userID, room, nid, membership, false)
}

// applyCurrentState writes one room's change of current state.
func (p *persister) applyCurrentState(d core.CurrentStateDelta) error {
	room, err := p.room(d.RoomID)
	if err != nil {
		return err
	}
	for _, key := range slices.SortedFunc(maps.Keys(d.Changes), compareStateKeys) {
		eventID := d.Changes[key]
		if eventID == "" {
			if _, err := p.q.ExecContext(p.ctx,
				"DELETE FROM current_state_events WHERE room_nid = ? AND type = ? AND state_key = ?",
				room, key.Type, key.StateKey); err != nil {
				return fmt.Errorf("storage: current state %v: %w", key, err)
			}
			if key.Type == typeMember {
				if err := p.dropLocalMembership(key.StateKey, room); err != nil {
					return err
				}
			}
			continue
		}
		var nid, evRoom int64
		var typ string
		var stateKey, rejected, membership sql.NullString
		err := p.q.QueryRowContext(p.ctx, `
			SELECT e.event_nid, e.room_nid, e.type, e.state_key, e.rejection_reason, m.membership
			FROM events e LEFT JOIN room_memberships m ON m.event_nid = e.event_nid
			WHERE e.event_id = ?`, eventID).Scan(&nid, &evRoom, &typ, &stateKey, &rejected, &membership)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("current state %v: event %s", key, eventID)
		case err != nil:
			return fmt.Errorf("storage: current state %v: %w", key, err)
		case evRoom != room || typ != key.Type || !stateKey.Valid || stateKey.String != key.StateKey:
			return invalid("current state %v of %s: event %s is another room's or key's", key, d.RoomID, eventID)
		case rejected.Valid:
			return invalid("current state %v: event %s was rejected", key, eventID)
		}
		if _, err := p.q.ExecContext(p.ctx, `
			INSERT INTO current_state_events (room_nid, type, state_key, event_nid, membership) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (room_nid, type, state_key) DO UPDATE SET event_nid = excluded.event_nid, membership = excluded.membership`,
			room, key.Type, key.StateKey, nid, membership); err != nil {
			return fmt.Errorf("storage: current state %v: %w", key, err)
		}
		if key.Type == typeMember {
			if err := p.setLocalMembership(key.StateKey, room, nid, membership.String); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *persister) dropLocalMembership(userID string, room int64) error {
	local, err := p.isLocal(userID)
	if err != nil || !local {
		return err
	}
	if _, err := p.q.ExecContext(p.ctx,
		"DELETE FROM local_current_membership WHERE user_id = ? AND room_nid = ?", userID, room); err != nil {
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	}
	p.noteSearchStale()
	return noteMemberChange(p, userID, room, 0, "", true)
}
