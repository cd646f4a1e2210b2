package storage

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
)

// TestTxnRetention checks that a transaction ID is kept for txnRetention:
// within it a retry finds the event and the event carries the ID for the
// sending device; once a later write has pruned it, neither.
func TestTxnRetention(t *testing.T) {
	defer func(v int64) { txnPrunePeriod = v }(txnPrunePeriod)
	txnPrunePeriod = 1
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	txn := core.TxnID{UserID: "@alice:" + testServer, DeviceID: "DEV", TxnID: "t1"}
	a := r.msg("a", 1)
	a.Txn = &txn
	a.InternalMetadata = []byte(`{"device_id":"DEV","txn_id":"t1"}`)
	r.persist(core.PersistOptions{}, a)

	check := func(when string, kept bool) {
		t.Helper()
		got, err := s.EventIDForTxn(ctx, r.id, txn)
		if kept && (err != nil || got != a.EventID) {
			t.Errorf("%s: EventIDForTxn = %q, %v; want %s", when, got, err, a.EventID)
		}
		if !kept {
			wantErrIs(t, when+": EventIDForTxn", err, core.ErrNotFound)
		}
		ev, err := s.Event(ctx, a.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(ev.InternalMetadata), `"txn_id":"t1"`); has != kept {
			t.Errorf("%s: internal metadata %s, transaction kept = %v", when, ev.InternalMetadata, kept)
		}
	}
	// A write just within the retention keeps it.
	b := r.msg("b", 2, "a")
	b.ReceivedTS = a.ReceivedTS + txnRetention
	b.Txn = &core.TxnID{UserID: txn.UserID, DeviceID: "DEV", TxnID: "t2"}
	r.persist(core.PersistOptions{}, b)
	check("within the retention", true)
	// One past it drops it: the same ID then sends a new event.
	c := r.msg("c", 3, "b")
	c.ReceivedTS = a.ReceivedTS + txnRetention + 1
	c.Txn = &core.TxnID{UserID: txn.UserID, DeviceID: "DEV", TxnID: "t3"}
	r.persist(core.PersistOptions{}, c)
	check("past the retention", false)
	again := r.msg("again", 4, "c")
	again.ReceivedTS = c.ReceivedTS
	again.Txn = &txn
	r.persist(core.PersistOptions{}, again)
	if got, err := s.EventIDForTxn(ctx, r.id, txn); err != nil || got != again.EventID {
		t.Errorf("reused after the retention: EventIDForTxn = %q, %v; want %s", got, err, again.EventID)
	}
}

// TestMigrateTxnKey opens a version-2 database written before deltas 2/61
// to 2/63 and 2/77: its transaction rows move to the keyed table and still
// answer retries and the sending device, a used ID is still refused, the
// timestamp index is the narrow one, event_edges is gone and the rows have
// no inserted_ts.
func TestMigrateTxnKey(t *testing.T) {
	ctx := context.Background()
	const goDelta = "main/delta/2/61event_txn_id_key"
	o := testOptions(t)
	tree := schemaWithout(t, "main/delta/2/62events_room_timestamp_narrow.sql", "main/delta/2/63drop_event_edges.sql",
		"main/delta/2/77event_txn_id_no_ts.sql")
	tree.GoDeltas = maps.Clone(tree.GoDeltas)
	delete(tree.GoDeltas, goDelta)
	old, err := openWith(ctx, o, tree)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(appliedDeltas(t, old), "2:"+goDelta+".go") {
		t.Fatal("the old schema already has the delta")
	}
	err = old.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	oldStore := NewEventStore(old)
	r := newTestRoom(t, oldStore, "r")
	a := r.msg("a", 1)
	r.persist(core.PersistOptions{}, a)
	// The row as the code before the delta wrote it.
	err = old.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `INSERT INTO event_txn_id (event_nid, room_nid, user_id, device_id, txn_id, inserted_ts)
			SELECT event_nid, room_nid, ?, 'DEV', 't1', ? FROM events WHERE event_id = ?`, "@alice:"+testServer, a.ReceivedTS, a.EventID)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `INSERT INTO event_edges (event_nid, prev_event_id)
			SELECT event_nid, '$prev' FROM events WHERE event_id = ?`, a.EventID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := mustOpenMigrated(t, o, goDelta+".go", "main/delta/2/62events_room_timestamp_narrow.sql", "main/delta/2/63drop_event_edges.sql",
		"main/delta/2/77event_txn_id_no_ts.sql")
	s := NewEventStore(db)
	txn := core.TxnID{UserID: "@alice:" + testServer, DeviceID: "DEV", TxnID: "t1"}
	if got, err := s.EventIDForTxn(ctx, r.id, txn); err != nil || got != a.EventID {
		t.Errorf("EventIDForTxn after migrating = %q, %v; want %s", got, err, a.EventID)
	}
	if ev, err := s.Event(ctx, a.EventID); err != nil || !strings.Contains(string(ev.InternalMetadata), `"txn_id":"t1"`) {
		t.Errorf("event after migrating: %v, %v; want its transaction", ev, err)
	}
	r.s = s
	dup := r.msg("dup", 2, "a")
	dup.Txn = &txn
	_, err = s.PersistEvents(ctx, []core.NewEvent{dup}, core.PersistOptions{})
	wantErrIs(t, "PersistEvents(used transaction after migrating)", err, core.ErrTxnUsed)
	var sql string
	if err := db.Reader().QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE name = 'events_room_timestamp'").Scan(&sql); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sql, "topological_ordering") {
		t.Errorf("events_room_timestamp after migrating: %s", sql)
	}
	var edges int
	if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'event_edges'").Scan(&edges); err != nil || edges != 0 {
		t.Errorf("event_edges after migrating: %d, %v; want gone", edges, err)
	}
	var ts int
	if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('event_txn_id') WHERE name = 'inserted_ts'").Scan(&ts); err != nil || ts != 0 {
		t.Errorf("event_txn_id.inserted_ts after migrating: %d, %v; want gone", ts, err)
	}
}

// TestTxnPruneBehindRowFromTheFuture: a transaction row received while the
// clock was ahead (then corrected) is the oldest row; the rows after it
// that are past their retention are still pruned.
func TestTxnPruneBehindRowFromTheFuture(t *testing.T) {
	defer func(v int64) { txnPrunePeriod = v }(txnPrunePeriod)
	txnPrunePeriod = 1
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	user := "@alice:" + testServer
	first := r.msg("ahead", 1)
	base := first.ReceivedTS
	if base == 0 {
		base = 1_700_000_000_000
	}
	first.ReceivedTS = base + 365*txnRetention // clock a year ahead
	first.Txn = &core.TxnID{UserID: user, DeviceID: "DEV", TxnID: "ahead"}
	r.persist(core.PersistOptions{}, first)
	prev := "ahead"
	for i := range 5 {
		name := fmt.Sprint("m", i)
		ev := r.msg(name, int64(i+2), prev)
		ev.ReceivedTS = base + int64(i) // clock corrected
		ev.Txn = &core.TxnID{UserID: user, DeviceID: "DEV", TxnID: name}
		r.persist(core.PersistOptions{}, ev)
		prev = name
	}
	// Two days later: m0..m4 are past the retention.
	last := r.msg("later", 7, prev)
	last.ReceivedTS = base + 2*txnRetention
	last.Txn = &core.TxnID{UserID: user, DeviceID: "DEV", TxnID: "later"}
	r.persist(core.PersistOptions{}, last)
	var n int
	if err := s.db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM event_txn_id t JOIN events e ON e.event_nid = t.event_nid
		WHERE e.received_ts < ?`, last.ReceivedTS-txnRetention).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d transaction rows past the retention kept behind a row received with the clock ahead", n)
	}
}
