package storage

import (
	"context"
	"testing"

	"hearth.dev/hearth/core"
)

// TestTimestampIndexMigrates: a database made at schema version 1 gains
// events_room_timestamp (delta 2/60), which indexes the events already
// stored, and the lookup finds them through it.
func TestTimestampIndexMigrates(t *testing.T) {
	ctx := context.Background()
	path := testPath(t, "v1.db")
	old := &SchemaTree{FS: hearthSchema.FS, Version: 1, CompatVersion: 1, GoDeltas: hearthSchema.GoDeltas}
	db, err := openWith(ctx, Options{Path: path, Logger: quietLog}, old)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := newTestStoreWith(t, Options{Path: path, Logger: quietLog})
	var n int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'events_room_timestamp'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("index after the migration: %d, %v", n, err)
	}
	r := newTestRoom(t, s, "ts")
	r.persist(core.PersistOptions{}, r.msg("a", 10), r.msg("b", 20, "a"))
	got, err := s.EventsNearTimestamp(ctx, r.id, 1_700_000_000_000+15, core.Backward, 1)
	if err != nil || len(got) != 1 || got[0].EventID != eventID("a") {
		t.Fatalf("EventsNearTimestamp = %v, %v; want a", got, err)
	}
	if err := s.db.Reader().QueryRow(`SELECT count(*) FROM events INDEXED BY events_room_timestamp
		WHERE room_nid = (SELECT room_nid FROM rooms WHERE room_id = ?) AND outlier = 0 AND origin_server_ts > 0`, r.id).Scan(&n); err != nil || n < 2 {
		t.Fatalf("events in the index: %d, %v; want the room's", n, err)
	}
}
