package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// DirectoryStore keeps local room aliases, the published room directory
// (rooms.is_public) and the rooms users have forgotten. It implements
// room.DirectoryStore.
type DirectoryStore struct {
	db *DB
}

var _ room.DirectoryStore = (*DirectoryStore)(nil)

// NewDirectoryStore returns the directory store of db.
func NewDirectoryStore(db *DB) *DirectoryStore { return &DirectoryStore{db: db} }

// CreateAlias maps alias to roomID; see room.DirectoryStore.
func (s *DirectoryStore) CreateAlias(ctx context.Context, alias, roomID, creator string) error {
	return s.db.Write(ctx, func(q Queryer) error { return createAlias(ctx, q, alias, roomID, creator) })
}

// createAlias maps alias to roomID inside the writer's transaction.
func createAlias(ctx context.Context, q Queryer, alias, roomID, creator string) error {
	res, err := q.ExecContext(ctx,
		"INSERT INTO room_aliases (alias, room_id, creator) VALUES (?, ?, ?) ON CONFLICT (alias) DO NOTHING",
		alias, roomID, creator)
	if err != nil {
		return fmt.Errorf("storage: create alias %s: %w", alias, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: create alias %s: %w", alias, err)
	} else if n == 0 {
		return fmt.Errorf("storage: alias %s: %w", alias, core.ErrRoomInUse)
	}
	return nil
}

// ResolveAlias returns the room alias maps to; see room.DirectoryStore.
func (s *DirectoryStore) ResolveAlias(ctx context.Context, alias string) (string, string, error) {
	var roomID, creator string
	err := s.db.Cached().QueryRowContext(ctx,
		"SELECT room_id, creator FROM room_aliases WHERE alias = ?", alias).Scan(&roomID, &creator)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", notFound("alias %s", alias)
	}
	if err != nil {
		return "", "", fmt.Errorf("storage: alias %s: %w", alias, err)
	}
	return roomID, creator, nil
}

// DeleteAlias removes alias; see room.DirectoryStore.
func (s *DirectoryStore) DeleteAlias(ctx context.Context, alias string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "DELETE FROM room_aliases WHERE alias = ?", alias)
		if err != nil {
			return fmt.Errorf("storage: delete alias %s: %w", alias, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("storage: delete alias %s: %w", alias, err)
		} else if n == 0 {
			return notFound("alias %s", alias)
		}
		return nil
	})
}

// Aliases returns roomID's aliases; see room.DirectoryStore.
func (s *DirectoryStore) Aliases(ctx context.Context, roomID string) ([]string, error) {
	return s.strings(ctx, "SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias", roomID)
}

// SetPublished sets whether roomID is published; see room.DirectoryStore.
func (s *DirectoryStore) SetPublished(ctx context.Context, roomID string, published bool) error {
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE rooms SET is_public = ? WHERE room_id = ?", published, roomID)
		if err != nil {
			return fmt.Errorf("storage: publish %s: %w", roomID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("storage: publish %s: %w", roomID, err)
		} else if n == 0 {
			return notFound("room %s", roomID)
		}
		return nil
	})
}

// PublishedRooms lists the published rooms; see room.DirectoryStore.
func (s *DirectoryStore) PublishedRooms(ctx context.Context) ([]string, error) {
	return s.strings(ctx, "SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY room_id")
}

// Forget records that userID forgot roomID; see room.DirectoryStore.
func (s *DirectoryStore) Forget(ctx context.Context, userID, roomID, eventID string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `
			INSERT INTO room_forgotten (user_id, room_id, event_id) VALUES (?, ?, ?)
			ON CONFLICT (user_id, room_id) DO UPDATE SET event_id = excluded.event_id`,
			userID, roomID, eventID)
		if err != nil {
			return fmt.Errorf("storage: forget %s for %s: %w", roomID, userID, err)
		}
		return nil
	})
}

// ForgottenAt returns the membership event as of which userID forgot
// roomID; see room.DirectoryStore.
func (s *DirectoryStore) ForgottenAt(ctx context.Context, userID, roomID string) (string, error) {
	var eventID string
	err := s.db.Cached().QueryRowContext(ctx,
		"SELECT event_id FROM room_forgotten WHERE user_id = ? AND room_id = ?", userID, roomID).Scan(&eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("storage: forgotten %s: %w", roomID, err)
	}
	return eventID, nil
}

// strings runs a query returning one text column.
func (s *DirectoryStore) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.Cached().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return out, nil
}
