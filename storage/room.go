package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
)

// StoreRoom records a room; see core.RoomStore.
func (s *EventStore) StoreRoom(ctx context.Context, room core.RoomInfo) error {
	if room.RoomID == "" || room.RoomVersion == "" {
		return invalid("room needs an ID and a version")
	}
	return s.db.Write(ctx, func(q Queryer) error { return storeRoom(ctx, q, room) })
}

// storeRoom records room inside the writer's transaction.
func storeRoom(ctx context.Context, q Queryer, room core.RoomInfo) error {
	if room.RoomID == "" || room.RoomVersion == "" {
		return invalid("room needs an ID and a version")
	}
	var version string
	err := q.QueryRowContext(ctx, "SELECT room_version FROM rooms WHERE room_id = ?", room.RoomID).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = q.ExecContext(ctx,
			"INSERT INTO rooms (room_id, room_version, creator, is_public) VALUES (?, ?, ?, ?)",
			room.RoomID, room.RoomVersion, nullString(room.Creator), room.IsPublic)
		if err != nil {
			return fmt.Errorf("storage: store room %s: %w", room.RoomID, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("storage: store room %s: %w", room.RoomID, err)
	case version != room.RoomVersion:
		return invalid("room %s is stored with version %q, not %q", room.RoomID, version, room.RoomVersion)
	}
	return nil
}

// Room returns what is recorded about roomID; see core.RoomStore.
func (s *EventStore) Room(ctx context.Context, roomID string) (core.RoomInfo, error) {
	info := core.RoomInfo{RoomID: roomID}
	var creator sql.NullString
	err := s.db.Cached().QueryRowContext(ctx,
		"SELECT room_version, creator, is_public FROM rooms WHERE room_id = ?", roomID).
		Scan(&info.RoomVersion, &creator, &info.IsPublic)
	if errors.Is(err, sql.ErrNoRows) {
		return core.RoomInfo{}, notFound("room %s", roomID)
	}
	if err != nil {
		return core.RoomInfo{}, fmt.Errorf("storage: room %s: %w", roomID, err)
	}
	info.Creator = creator.String
	return info, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
