package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The application services' network room directories (table
// appservice_room_list, delta 2/96).
const (
	sqlRoomExists      = "SELECT 1 FROM rooms WHERE room_id = ?"
	sqlNetworkPublish  = "INSERT INTO appservice_room_list (appservice_id, network_id, room_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
	sqlNetworkWithdraw = "DELETE FROM appservice_room_list WHERE appservice_id = ? AND network_id = ? AND room_id = ?"
	sqlNetworkRooms    = "SELECT room_id FROM appservice_room_list WHERE appservice_id = ? AND network_id = ? ORDER BY room_id"
	sqlAllNetworkRooms = "SELECT DISTINCT room_id FROM appservice_room_list ORDER BY room_id"
)

// SetNetworkPublished sets whether roomID is in the directory of network
// of the application service service; see room.DirectoryStore.
func (s *DirectoryStore) SetNetworkPublished(ctx context.Context, service, network, roomID string, published bool) error {
	return s.db.Write(ctx, func(q Queryer) error {
		var one int
		err := q.QueryRowContext(ctx, sqlRoomExists, roomID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("room %s", roomID)
		}
		if err == nil {
			if published {
				_, err = q.ExecContext(ctx, sqlNetworkPublish, service, network, roomID)
			} else {
				_, err = q.ExecContext(ctx, sqlNetworkWithdraw, service, network, roomID)
			}
		}
		if err != nil {
			return fmt.Errorf("storage: publish %s in %s/%s: %w", roomID, service, network, err)
		}
		return nil
	})
}

// NetworkPublishedRooms lists the rooms of network of service, or of any
// network with service ""; see room.DirectoryStore.
func (s *DirectoryStore) NetworkPublishedRooms(ctx context.Context, service, network string) ([]string, error) {
	if service == "" {
		return s.strings(ctx, sqlAllNetworkRooms)
	}
	return s.strings(ctx, sqlNetworkRooms, service, network)
}
