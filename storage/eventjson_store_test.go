package storage

import (
	"context"
	"slices"
	"testing"

	"hearth.dev/hearth/core"
)

// TestEventJSONStoredStripped persists events and checks that their JSON
// is stored without the row's members and read back byte for byte by
// every reader: Event, Events, the timeline, the federation queue.
func TestEventJSONStoredStripped(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	a := r.msg("a", 1)
	topic := r.state("topic", 2, "m.room.topic", "", `{"topic":"ünïcode 😀"}`, "a")
	b := r.msg("b", 3, "topic")
	b.Sender = "@bob:elsewhere.example" // the JSON says @alice: kept in it
	r.persist(core.PersistOptions{}, a, topic, b)

	rows, err := s.db.Reader().QueryContext(ctx, `SELECT e.event_id, j.json, j.stripped FROM event_json j JOIN events e USING (event_nid)`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var id, js string
		var stripped int
		if err := rows.Scan(&id, &js, &stripped); err != nil {
			t.Fatal(err)
		}
		stored[id] = stripped
	}
	rows.Close()
	wantBits := map[string]int{
		a.EventID:     strippedDepth | strippedOriginServerTS | strippedRoomID | strippedSender | strippedType,
		topic.EventID: strippedDepth | strippedOriginServerTS | strippedRoomID | strippedSender | strippedType | strippedStateKey,
		b.EventID:     strippedDepth | strippedOriginServerTS | strippedRoomID | strippedType,
	}
	for id, want := range wantBits {
		if stored[id] != want {
			t.Errorf("event %s stored with stripped %b, want %b", id, stored[id], want)
		}
	}

	byID, err := s.Events(ctx, []string{a.EventID, topic.EventID, b.EventID})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []core.NewEvent{a, topic, b} {
		one, err := s.Event(ctx, ev.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if string(one.JSON) != string(ev.JSON) {
			t.Errorf("Event(%s).JSON = %s, want %s", ev.EventID, one.JSON, ev.JSON)
		}
		if got := byID[ev.EventID]; got == nil || string(got.JSON) != string(ev.JSON) {
			t.Errorf("Events()[%s] = %v, want its JSON %s", ev.EventID, got, ev.JSON)
		}
	}

	// The federation queue reads through its own query.
	fq := NewFederationQueueStore(s.db)
	err = s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `INSERT INTO federation_outbound_pdus (destination, stream_ordering, event_nid, room_nid)
			SELECT 'other.example', stream_ordering, event_nid, room_nid FROM events`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := fq.NextBatch(ctx, "other.example", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.PDUs) != 3 {
		t.Fatalf("NextBatch gave %d PDUs, want 3", len(batch.PDUs))
	}
	for i, ev := range []core.NewEvent{a, topic, b} {
		if p := batch.PDUs[i]; p.EventID != ev.EventID || p.RoomID != r.id || string(p.JSON) != string(ev.JSON) {
			t.Errorf("NextBatch PDU %d = %s %s %s, want %s %s %s", i, p.EventID, p.RoomID, p.JSON, ev.EventID, r.id, ev.JSON)
		}
	}
}

// TestMigrateEventJSONStripped opens a version-2 database written before
// delta 2/75: its events, stored whole, read back as they are, and events
// persisted after the delta are stored stripped.
func TestMigrateEventJSONStripped(t *testing.T) {
	ctx := context.Background()
	const delta = "main/delta/2/75event_json_stripped.sql"
	o := testOptions(t)
	old, err := openWith(ctx, o, schemaWithout(t, delta))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(appliedDeltas(t, old), "2:"+delta) {
		t.Fatal("the old schema already has the delta")
	}
	oldStore := NewEventStore(old)
	r := newTestRoom(t, oldStore, "r")
	a := r.msg("a", 1)
	topic := r.state("topic", 2, "m.room.topic", "", `{"topic":"t"}`, "a")
	// The rows as the code before the delta wrote them.
	err = old.Write(ctx, func(q Queryer) error {
		for _, ev := range []core.NewEvent{a, topic} {
			var nid int64
			err := q.QueryRowContext(ctx, `
				INSERT INTO events (event_id, room_nid, type, state_key, sender, stream_ordering,
					topological_ordering, origin_server_ts, received_ts, outlier)
				SELECT ?, room_nid, ?, ?, ?, ?, ?, ?, ?, 1 FROM rooms WHERE room_id = ? RETURNING event_nid`,
				ev.EventID, ev.Type, ev.StateKey, ev.Sender, -100-ev.Depth, ev.Depth, ev.OriginServerTS, ev.ReceivedTS, r.id).Scan(&nid)
			if err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, "INSERT INTO event_json (event_nid, json, format_version) VALUES (?, ?, 2)",
				nid, string(ev.JSON)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := mustOpenWith(t, o)
	if !slices.Contains(appliedDeltas(t, db), "2:"+delta) {
		t.Fatalf("delta %s not applied: %v", delta, appliedDeltas(t, db))
	}
	s := NewEventStore(db)
	for _, ev := range []core.NewEvent{a, topic} {
		got, err := s.Event(ctx, ev.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.JSON) != string(ev.JSON) {
			t.Errorf("Event(%s) after migrating = %s, want %s", ev.EventID, got.JSON, ev.JSON)
		}
	}
	r.s = s
	b := r.msg("b", 3)
	r.persist(core.PersistOptions{}, b)
	var stripped int
	var js string
	if err := db.Reader().QueryRowContext(ctx, `SELECT j.json, j.stripped FROM event_json j JOIN events e USING (event_nid)
		WHERE e.event_id = ?`, b.EventID).Scan(&js, &stripped); err != nil {
		t.Fatal(err)
	}
	if stripped == 0 || len(js) >= len(b.JSON) {
		t.Errorf("event persisted after migrating stored as %s (stripped %b), want it stripped", js, stripped)
	}
	if got, err := s.Event(ctx, b.EventID); err != nil || string(got.JSON) != string(b.JSON) {
		t.Errorf("Event(b) after migrating = %v, %v; want its JSON", got, err)
	}
}
