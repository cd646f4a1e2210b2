package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"hearth.dev/hearth/core"
)

// DefaultMaxStateGroupHops is how long a chain of delta state groups may
// grow before a new group is stored as a full snapshot (seed 003: "every
// 100 state changes or so").
const DefaultMaxStateGroupHops = 100

// EventStore keeps rooms, their events, DAG, current state and state
// groups. It implements core.EventStore, core.TimelineStore,
// core.RoomStateStore, core.StateGroupStore and core.RoomStore.
type EventStore struct {
	db     *DB
	stmts  readStmts
	states stateCache
	// authSets are the auth sets of stored events (eventjson.go).
	authSets authSetCache
	// serverName is the local server name once a write read it (it never
	// changes), so a send does not read it again (eventpersist.go).
	serverName atomic.Pointer[string]
	// MaxStateGroupHops bounds delta chains (DefaultMaxStateGroupHops; tests
	// lower it to exercise snapshots). Set it before first use.
	MaxStateGroupHops int
}

var (
	_ core.EventStore      = (*EventStore)(nil)
	_ core.TimelineStore   = (*EventStore)(nil)
	_ core.RoomStateStore  = (*EventStore)(nil)
	_ core.StateGroupStore = (*EventStore)(nil)
	_ core.RoomStore       = (*EventStore)(nil)
)

// NewEventStore returns the event store of db.
func NewEventStore(db *DB) *EventStore {
	return &EventStore{
		db:                db,
		stmts:             readStmts{db: db.Reader()},
		states:            stateCache{maxBytes: db.cacheBudget().StateGroups()},
		MaxStateGroupHops: DefaultMaxStateGroupHops,
	}
}

func (s *EventStore) maxHops() int {
	if s.MaxStateGroupHops <= 0 {
		return DefaultMaxStateGroupHops
	}
	return s.MaxStateGroupHops
}

// notFound returns an error wrapping core.ErrNotFound.
func notFound(format string, args ...any) error {
	return fmt.Errorf("storage: %s: %w", fmt.Sprintf(format, args...), core.ErrNotFound)
}

// invalid returns an error wrapping core.ErrInvalidParam.
func invalid(format string, args ...any) error {
	return fmt.Errorf("storage: %s: %w", fmt.Sprintf(format, args...), core.ErrInvalidParam)
}

const sqlRoomNID = "SELECT room_nid FROM rooms WHERE room_id = ?"

// roomNID returns the internal key of roomID, or an error wrapping
// core.ErrNotFound.
func roomNID(r reader, roomID string) (int64, error) {
	var nid int64
	err := r.queryRow(sqlRoomNID, roomID).Scan(&nid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("room %s", roomID)
	}
	if err != nil {
		return 0, fmt.Errorf("storage: room %s: %w", roomID, err)
	}
	return nid, nil
}
