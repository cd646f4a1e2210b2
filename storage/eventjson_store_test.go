package storage

import (
	"context"
	"strings"
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

	stored := eventJSONColumn[int](t, s.db, "stripped")
	const row = strippedAuthEvents | strippedDepth | strippedOriginServerTS | strippedRoomID | strippedType
	wantBits := map[string]int{
		a.EventID:     row | strippedSender,
		topic.EventID: row | strippedSender | strippedStateKey,
		b.EventID:     row,
	}
	for id, want := range wantBits {
		if stored[id] != want {
			t.Errorf("event %s stored with stripped %b, want %b", id, stored[id], want)
		}
	}

	// The three name the same auth events: one set.
	var sets int
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM event_auth_sets").Scan(&sets); err != nil || sets != 1 {
		t.Errorf("%d auth sets stored, %v; want 1", sets, err)
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
// deltas 2/75 and 2/76: its events, stored whole, read back as they are;
// the background update rewrites them stripped, leaving the search and
// relation indexes as they were; events persisted after the deltas are
// stored stripped; and a change of content still takes an event out of
// the indexes.
func TestMigrateEventJSONStripped(t *testing.T) {
	ctx := context.Background()
	// Before 2/70 too, whose trigger indexed the text as the rows were
	// stored.
	deltas := []string{"main/delta/2/70event_search_batched.sql",
		"main/delta/2/75event_json_stripped.sql", "main/delta/2/76event_json_strip_update.sql"}
	o := testOptions(t)
	old := openBefore(t, o, deltas...)
	oldStore := NewEventStore(old)
	r := newTestRoom(t, oldStore, "r")
	a := r.msg("a", 1)
	topic := r.state("topic", 2, "m.room.topic", "", `{"topic":"t"}`, "a")
	reply := r.msg("reply", 3, "topic")
	reply.JSON = eventJSON(&reply, `{"body":"a reply","m.relates_to":{"event_id":"`+a.EventID+`","rel_type":"m.reference"},"msgtype":"m.text"}`)
	spaced := r.msg("spaced", 4, "reply")
	spaced.JSON = append([]byte(" "), spaced.JSON...) // not compact: stays whole
	olds := []core.NewEvent{a, topic, reply, spaced}
	// The rows as the code before the deltas wrote them.
	err := old.Write(ctx, func(q Queryer) error {
		for _, ev := range olds {
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

	db := mustOpenMigrated(t, o, deltas...)
	s := NewEventStore(db)
	readBack := func(step string) {
		t.Helper()
		for _, ev := range olds {
			got, err := s.Event(ctx, ev.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.JSON) != string(ev.JSON) {
				t.Errorf("%s: Event(%s) = %s, want %s", step, ev.EventID, got.JSON, ev.JSON)
			}
		}
	}
	count := func(query string, args ...any) int {
		t.Helper()
		if err := db.waitSearchIndex(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Reader().QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const (
		sqlSearched = "SELECT count(*) FROM event_search WHERE event_search MATCH 'hello OR reply'"
		sqlRelated  = "SELECT count(*) FROM event_relations"
		sqlWhole    = "SELECT count(*) FROM event_json WHERE stripped = 0"
	)
	readBack("after migrating")
	searched, related := count(sqlSearched), count(sqlRelated)
	if searched != 3 || related != 1 || count(sqlWhole) != 4 {
		t.Fatalf("before the update: %d searched, %d related, %d whole; want 3, 1, 4", searched, related, count(sqlWhole))
	}
	if err := NewBackgroundUpdates(db).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(sqlWhole); n != 1 {
		t.Errorf("after the update %d events are stored whole, want 1 (the one not compact)", n)
	}
	readBack("after the update")
	if n, m := count(sqlSearched), count(sqlRelated); n != searched || m != related {
		t.Errorf("after the update: %d searched, %d related; want %d, %d", n, m, searched, related)
	}

	r.s = s
	b := r.msg("b", 5)
	r.persist(core.PersistOptions{}, b)
	if count("SELECT stripped FROM event_json j JOIN events e USING (event_nid) WHERE e.event_id = ?", b.EventID) == 0 {
		t.Errorf("event persisted after migrating is stored whole")
	}
	if got, err := s.Event(ctx, b.EventID); err != nil || string(got.JSON) != string(b.JSON) {
		t.Errorf("Event(b) after migrating = %v, %v; want its JSON", got, err)
	}

	// Pruning the reply's content in place takes it out of the indexes.
	err = db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `UPDATE event_json SET json = json_set(json, '$.content', json('{}'))
			WHERE event_nid = (SELECT event_nid FROM events WHERE event_id = ?)`, reply.EventID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, m := count(sqlSearched), count(sqlRelated); n != searched || m != 0 {
		t.Errorf("after pruning the reply: %d searched, %d related; want %d (b added, the reply gone), 0", n, m, searched)
	}
}

// TestAuthSetAfterRollback: an auth set stored by a write that rolled
// back is not remembered, so a later event with the same auth events
// stores it again and reads back whole.
func TestAuthSetAfterRollback(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	a := r.msg("a", 1)
	a.JSON = []byte(strings.Replace(string(a.JSON), `"auth_events":[`, `"auth_events":["$fresh",`, 1))
	bad := r.msg("bad", 2, "a")
	bad.StateGroup = 1 << 40 // no such group: the write fails
	if _, err := s.PersistEvents(ctx, []core.NewEvent{a, bad}, core.PersistOptions{}); err == nil {
		t.Fatal("PersistEvents with a missing state group succeeded")
	}
	r.persist(core.PersistOptions{}, a)
	got, err := s.Event(ctx, a.EventID)
	if err != nil || string(got.JSON) != string(a.JSON) {
		t.Fatalf("Event(a) after a rolled-back write = %v, %v; want its JSON", got, err)
	}
	b := r.msg("b", 2, "a")
	b.JSON = []byte(strings.Replace(string(b.JSON), `"auth_events":[`, `"auth_events":["$fresh",`, 1))
	r.persist(core.PersistOptions{}, b)
	if got, err := s.Event(ctx, b.EventID); err != nil || string(got.JSON) != string(b.JSON) {
		t.Fatalf("Event(b) = %v, %v; want its JSON", got, err)
	}
}
