package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// searchRoom returns the IDs of the events of room found by a search for
// word in message bodies.
func searchRoom(t *testing.T, s *EventStore, roomID, word string) []string {
	t.Helper()
	hits, err := s.SearchEvents(context.Background(), clientsync.SearchQuery{
		Words: []string{word}, RoomIDs: []string{roomID}, Keys: []string{clientsync.KeyBody}, Limit: 50,
	})
	if err != nil {
		t.Fatalf("SearchEvents(%q): %v", word, err)
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Event.EventID
	}
	return ids
}

// indexedCount counts the index's rows that match an FTS5 expression,
// after the batch of what is stored.
func indexedCount(t *testing.T, s *EventStore, match string) int {
	t.Helper()
	ctx := context.Background()
	if err := s.db.waitSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM event_search WHERE event_search MATCH ?", match).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// searchPositions reads the events' streams and the index's positions.
func searchPositions(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) [4]int64 {
	t.Helper()
	var p [4]int64
	if err := q.QueryRowContext(context.Background(), sqlSearchPositions).Scan(&p[0], &p[1], &p[2], &p[3]); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSearchFindsSentMessage: a search begun after a message was stored
// finds it, every time, although the message's own write leaves the index
// alone.
func TestSearchFindsSentMessage(t *testing.T) {
	s := newTestStore(t)
	s.db.search.paused.Store(true)
	r := newTestRoom(t, s, "sent")
	prev := []string{}
	for i := range 40 {
		name := fmt.Sprint("m", i)
		word := fmt.Sprint("word", i)
		r.persist(core.PersistOptions{}, withContent(r.msg(name, int64(i+1), prev...), "", `{"msgtype":"m.text","body":"say `+word+`"}`))
		prev = []string{name}
		if got := searchRoom(t, s, r.id, word); len(got) != 1 || got[0] != eventID(name) {
			t.Fatalf("search for %s right after its send found %v, want [%s]", word, got, eventID(name))
		}
	}
	if n := indexedCount(t, s, "say"); n != 40 {
		t.Errorf("%d messages indexed, want 40 (each once)", n)
	}
}

// TestSearchIndexBatches: with no search, searchIndexBatch commits start
// a batch on their own (the delay is set beyond the test), which indexes
// what was stored and moves the index's positions to the streams'; fewer
// commits wait for the delay or a search.
func TestSearchIndexBatches(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	si := &s.db.search
	si.mu.Lock()
	si.delay = time.Hour
	if si.timer != nil && si.timer.Stop() {
		si.timer = nil
	}
	si.mu.Unlock()
	if err := s.db.waitSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	indexed := func() int {
		t.Helper()
		var n int
		if err := s.db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM event_search WHERE event_search MATCH 'batched'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	r := newTestRoom(t, s, "batch")
	prev := []string{}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			name := fmt.Sprint("m", i)
			r.persist(core.PersistOptions{}, withContent(r.msg(name, int64(i+1), prev...), "", `{"msgtype":"m.text","body":"batched"}`))
			prev = []string{name}
		}
	}
	// The room's own events are commits too: count from here.
	base := si.written.Load() - si.indexed.Load()
	send(0, searchIndexBatch-1-int(base))
	if n := indexed(); n != 0 {
		t.Fatalf("%d indexed before a batch was due, want 0", n)
	}
	send(searchIndexBatch-1-int(base), searchIndexBatch-int(base))
	// The batch is due now; wait for it, failing (not hanging) if it
	// never comes.
	deadline := time.Now().Add(time.Minute)
	for si.indexed.Load() != si.written.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("no batch after %d commits (written %d, indexed %d)", searchIndexBatch, si.written.Load(), si.indexed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := searchIndexBatch - int(base)
	if n := indexed(); n != want {
		t.Errorf("%d indexed by the batch of %d commits, want %d", n, searchIndexBatch, want)
	}
	p := searchPositions(t, s.db.Reader())
	if p[0] != p[1] || p[2] != p[3] {
		t.Errorf("positions (events, indexed, backfill, indexed) = %v after the batch", p)
	}
	send(want, want+3)
	if n := indexed(); n != want {
		t.Errorf("%d indexed before the delay or a search, want %d", n, want)
	}
	if err := s.db.waitSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := indexed(); n != want+3 {
		t.Errorf("%d indexed after a search's wait, want %d", n, want+3)
	}
}

const crashEnv = "HEARTH_TEST_SEARCH_CRASH_DB"

// TestSearchIndexAfterCrash: a process that stored messages and died
// before indexing them (no Close, no batch) leaves them above the index's
// position; the next open indexes them, once each.
func TestSearchIndexAfterCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashAfterSends(t, path)
		return
	}
	if testVFS != "" || runtime.GOOS == "js" {
		t.Skip("needs a child process")
	}
	o := testOptions(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSearchIndexAfterCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+o.Path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "stored 5") {
		t.Fatalf("child: %v\n%s", err, out)
	}

	raw, err := openSQL(dsn(o.Path, o, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := searchPositions(t, raw)
	raw.Close()
	if p[1] >= p[0] {
		t.Fatalf("positions (events, indexed, backfill, indexed) = %v: the child's messages were indexed before it died", p)
	}

	s := NewEventStore(mustOpenWith(t, o))
	if got := searchRoom(t, s, crashRoomID, "crashword"); len(got) != 5 {
		t.Errorf("after reopening, the search found %d of the 5 messages stored before the crash", len(got))
	}
	if n := indexedCount(t, s, "crashword"); n != 5 {
		t.Errorf("%d rows indexed, want 5", n)
	}
	if p := searchPositions(t, s.db.Reader()); p[0] != p[1] || p[2] != p[3] {
		t.Errorf("positions (events, indexed, backfill, indexed) = %v after reopening", p)
	}
}

// crashRoomID is the room crashAfterSends writes into (newTestRoom's ID
// for "crash").
var crashRoomID = func() string {
	h := sha256.Sum256([]byte("room crash"))
	return "!" + base64.RawURLEncoding.EncodeToString(h[:])
}()

// crashAfterSends is the child of TestSearchIndexAfterCrash: it stores
// five messages with background batches paused and exits without closing
// the database.
func crashAfterSends(t *testing.T, path string) {
	// Options of its own: testOptions would make a folder that the exit
	// leaves behind.
	db, err := Open(context.Background(), Options{Path: path, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	db.search.paused.Store(true)
	s := NewEventStore(db)
	if err := db.Write(context.Background(), func(q Queryer) error {
		_, err := q.ExecContext(context.Background(), "INSERT OR IGNORE INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := newTestRoom(t, s, "crash")
	if r.id != crashRoomID {
		t.Fatalf("room %s, want %s", r.id, crashRoomID)
	}
	prev := []string{}
	for i := range 5 {
		name := fmt.Sprint("c", i)
		r.persist(core.PersistOptions{}, withContent(r.msg(name, int64(i+1), prev...), "", `{"msgtype":"m.text","body":"crashword `+name+`"}`))
		prev = []string{name}
	}
	fmt.Println("stored 5")
	os.Exit(3)
}

// TestSearchIndexRedactedAndPurged: an event redacted or purged before
// its batch is not found; the batch reads what is stored when it runs.
func TestSearchIndexRedactedAndPurged(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.db.search.paused.Store(true)
	r := newTestRoom(t, s, "kept")
	gone := newTestRoom(t, s, "purged")
	a := withContent(r.msg("a", 1), "", `{"msgtype":"m.text","body":"redactword"}`)
	red := r.msg("red", 2, "a")
	red.Type = "m.room.redaction"
	red.Redacts = a.EventID
	red.JSON = eventJSON(&red, `{"redacts":"`+a.EventID+`"}`)
	pruned := withContent(r.msg("pruned", 3, "red"), "", `{"msgtype":"m.text","body":"prunedword"}`)
	r.persist(core.PersistOptions{}, a, red, pruned)
	gone.persist(core.PersistOptions{}, withContent(gone.msg("p", 1), "", `{"msgtype":"m.text","body":"purgeword"}`))

	// The JSON pruned in place, the room purged, before any batch.
	if err := s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `UPDATE event_json SET json = json_set(json, '$.content', json('{}'))
			WHERE event_nid = (SELECT event_nid FROM events WHERE event_id = ?)`, pruned.EventID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, gone.id); err != nil {
		t.Fatal(err)
	}
	if got := searchRoom(t, s, r.id, "redactword"); len(got) != 0 {
		t.Errorf("redacted message found: %v", got)
	}
	for _, w := range []string{"prunedword", "purgeword"} {
		if n := indexedCount(t, s, w); n != 0 {
			t.Errorf("%s: %d rows in the index, want 0", w, n)
		}
	}
	// A purge after indexing takes the text out too.
	gone = newTestRoom(t, s, "purged again")
	gone.persist(core.PersistOptions{}, withContent(gone.msg("q", 1), "", `{"msgtype":"m.text","body":"laterword"}`))
	if n := indexedCount(t, s, "laterword"); n != 1 {
		t.Fatalf("laterword: %d rows in the index, want 1", n)
	}
	if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, gone.id); err != nil {
		t.Fatal(err)
	}
	if n := indexedCount(t, s, "laterword"); n != 0 {
		t.Errorf("laterword: %d rows in the index after the purge, want 0", n)
	}
}

// TestSearchIndexOutliersAndBackfill: backfilled events (negative stream
// orderings) are indexed, and an outlier indexed when stored is indexed
// once more only after it left the index as it joins the timeline.
func TestSearchIndexOutliersAndBackfill(t *testing.T) {
	s := newTestStore(t)
	s.db.search.paused.Store(true)
	r := newTestRoom(t, s, "dag")
	r.persist(core.PersistOptions{}, r.msg("a", 10))
	r.persist(core.PersistOptions{Backfilled: true}, withContent(r.msg("old", 5), "", `{"msgtype":"m.text","body":"backword"}`))
	if got := searchRoom(t, s, r.id, "backword"); len(got) != 1 {
		t.Errorf("backfilled message: found %v, want it", got)
	}
	b := withContent(r.msg("b", 11, "a"), "", `{"msgtype":"m.text","body":"outlierword"}`)
	out := b
	out.Outlier = true
	out.StateGroup = 0
	r.persist(core.PersistOptions{}, out)
	if n := indexedCount(t, s, "outlierword"); n != 1 {
		t.Fatalf("outlier: %d rows in the index, want 1", n)
	}
	r.persist(core.PersistOptions{}, b)
	if n := indexedCount(t, s, "outlierword"); n != 1 {
		t.Errorf("de-outliered: %d rows in the index, want 1", n)
	}
	if got := searchRoom(t, s, r.id, "outlierword"); len(got) != 1 {
		t.Errorf("de-outliered message: found %v, want it once", got)
	}
}

// TestMigrateSearchBatched opens a database from before delta 2/70, whose
// trigger indexed each event in its own write: its events stay indexed
// once, and events stored after it are indexed in batches.
func TestMigrateSearchBatched(t *testing.T) {
	o := testOptions(t)
	old := openBefore(t, o, "main/delta/2/70event_search_batched.sql")
	if err := old.Write(context.Background(), func(q Queryer) error {
		_, err := q.ExecContext(context.Background(), "INSERT OR IGNORE INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	oldStore := NewEventStore(old)
	r := newTestRoom(t, oldStore, "migrate")
	r.persist(core.PersistOptions{}, withContent(r.msg("a", 1), "", `{"msgtype":"m.text","body":"oldword"}`))
	r.persist(core.PersistOptions{Backfilled: true}, withContent(r.msg("b", 0), "", `{"msgtype":"m.text","body":"oldword too"}`))
	var n int
	if err := old.Reader().QueryRowContext(context.Background(), "SELECT count(*) FROM event_search WHERE event_search MATCH 'oldword'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("before the delta the trigger indexed %d (%v), want 2", n, err)
	}
	old.Close()

	db := mustOpenMigrated(t, o, "main/delta/2/70event_search_batched.sql")
	s := NewEventStore(db)
	r.s = s
	if p := searchPositions(t, db.Reader()); p[0] != 1 || p[1] != 1 || p[2] != -1 || p[3] != -1 {
		t.Errorf("positions (events, indexed, backfill, indexed) = %v after the delta, want [1 1 -1 -1]", p)
	}
	r.persist(core.PersistOptions{}, withContent(r.msg("c", 2, "a"), "", `{"msgtype":"m.text","body":"oldword new"}`))
	if got := searchRoom(t, s, r.id, "oldword"); len(got) != 3 {
		t.Errorf("found %d, want 3", len(got))
	}
	if n := indexedCount(t, s, "oldword"); n != 3 {
		t.Errorf("%d rows in the index, want 3 (each event once)", n)
	}
}
