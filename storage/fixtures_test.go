package storage

import (
	"context"
	"slices"
	"testing"

	"hearth.dev/hearth/core/push"
)

// Setup shared by several files' tests.

// mustOpenMigrated opens the database of o, written before deltas (names
// as applied_schema_deltas lists them under version 2), and fails unless
// opening it applied each of them.
func mustOpenMigrated(t *testing.T, o Options, deltas ...string) *DB {
	t.Helper()
	db := mustOpenWith(t, o)
	applied := appliedDeltas(t, db)
	for _, d := range deltas {
		if !slices.Contains(applied, "2:"+d) {
			t.Fatalf("delta %s not applied: %v", d, applied)
		}
	}
	return db
}

// openBefore opens a new database in o's folder with today's schema less
// deltas, as a database written before them, and checks that none of them
// is recorded as applied.
func openBefore(t *testing.T, o Options, deltas ...string) *DB {
	t.Helper()
	db, err := openWith(context.Background(), o, schemaWithout(t, deltas...))
	if err != nil {
		t.Fatal(err)
	}
	applied := appliedDeltas(t, db)
	for _, d := range deltas {
		if slices.Contains(applied, "2:"+d) {
			t.Fatalf("the old schema already has delta %s", d)
		}
	}
	return db
}

// eventJSONColumn reads column of event_json for every stored event, by
// event ID.
func eventJSONColumn[T any](t *testing.T, db *DB, column string) map[string]T {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Reader().QueryContext(ctx, `SELECT e.event_id, j.`+column+` FROM event_json j JOIN events e USING (event_nid)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]T{}
	for rows.Next() {
		var id string
		var v T
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// notifiedAliceBob is notifiedPushRoom for a room of three whose members
// alice and bob are notified, with the notification and receipt stores of
// its database.
func notifiedAliceBob(t *testing.T) (*pushRoomFixture, map[string][]push.Notification, *NotificationStore, *ReceiptStore) {
	t.Helper()
	pr := push.RoomContext{MemberCount: 3, Recipients: map[string]string{alice: "Alice", bob: "Bob"}}
	f, found := notifiedPushRoom(t, pr)
	return f, found, NewNotificationStore(f.es.db), NewReceiptStore(f.es.db)
}
