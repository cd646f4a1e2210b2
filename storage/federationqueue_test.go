package storage

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

const (
	bobA      = "@bob:a.test"
	carolB    = "@carol:b.test"
	daveC     = "@dave:c.test"
	remoteMsg = "@bob:a.test"
)

// sharedRoom stores a room where alice (local), bob (a.test) and carol
// (b.test) are joined and dave (c.test) has left, with its current state.
func sharedRoom(tb testing.TB, s *EventStore, name string) (*testRoom, string) {
	tb.Helper()
	r := newTestRoom(tb, s, name)
	var prev string
	depth := int64(1)
	for _, m := range []struct{ user, membership string }{{alice, "join"}, {bobA, "join"}, {carolB, "join"}, {daveC, "leave"}} {
		n := name + " member " + m.user
		var prevs []string
		if prev != "" {
			prevs = []string{prev}
		}
		ev := r.member(n, depth, m.user, m.membership, prevs...)
		r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: "m.room.member", StateKey: m.user}: ev.EventID}}}}, ev)
		prev, depth = n, depth+1
	}
	return r, prev
}

func TestFederationQueueNewEvents(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	q := NewFederationQueueStore(s.db)
	r, last := sharedRoom(t, s, "shared")
	// The memberships themselves were queued: drain them.
	if _, _, err := q.QueueNewEvents(ctx, 100); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a.test", "b.test", "c.test"} {
		b, err := q.NextBatch(ctx, d, 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.BatchSent(ctx, d, b); err != nil {
			t.Fatal(err)
		}
	}
	m1 := r.msg("m1", 10, last)
	m2 := r.msg("m2", 11, "m1")
	fromBob := r.msg("from bob", 12, "m2")
	fromBob.Sender = remoteMsg
	soft := r.msg("soft", 13, "from bob")
	soft.SoftFailed = true
	m3 := r.msg("m3", 13, "from bob")
	r.persist(core.PersistOptions{}, m1, m2, fromBob, soft, m3)

	dests, more, err := q.QueueNewEvents(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dests)
	if diff := cmp.Diff([]string{"a.test", "b.test"}, dests); diff != "" || more {
		t.Fatalf("destinations (-want +got):\n%s more=%v", diff, more)
	}
	b, err := q.NextBatch(ctx, "a.test", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range b.PDUs {
		got = append(got, p.EventID)
		if p.RoomID != r.id || len(p.JSON) == 0 {
			t.Fatalf("queued PDU %+v", p)
		}
	}
	if diff := cmp.Diff(eventIDs("m1", "m2", "m3"), got); diff != "" {
		t.Fatalf("queued for a.test (-want +got):\n%s", diff)
	}
	if b, _ := q.NextBatch(ctx, "c.test", 50, 100); !b.Empty() {
		t.Fatalf("c.test, whose user left, got %d PDUs", len(b.PDUs))
	}
	// The position moved past them: nothing is queued twice.
	if dests, _, err := q.QueueNewEvents(ctx, 100); err != nil || len(dests) != 0 {
		t.Fatalf("second QueueNewEvents = %v, %v", dests, err)
	}
	// Limits: at most 2 PDUs and 1 EDU per batch, oldest first.
	if err := q.QueueEDU(ctx, "a.test", "m.typing", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := q.QueueEDU(ctx, "a.test", "m.typing", []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	b, err = q.NextBatch(ctx, "a.test", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.PDUs) != 2 || b.PDUs[0].EventID != eventID("m1") || len(b.EDUs) != 1 || string(b.EDUs[0].Content) != `{"n":1}` {
		t.Fatalf("batch = %+v", b)
	}
	if err := q.BatchSent(ctx, "a.test", b); err != nil {
		t.Fatal(err)
	}
	b, _ = q.NextBatch(ctx, "a.test", 50, 100)
	if len(b.PDUs) != 1 || b.PDUs[0].EventID != eventID("m3") || len(b.EDUs) != 1 || string(b.EDUs[0].Content) != `{"n":2}` {
		t.Fatalf("rest = %+v", b)
	}
}

func TestFederationQueueRetryAndCatchUp(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	q := NewFederationQueueStore(s.db)
	r1, last1 := sharedRoom(t, s, "one")
	r2, last2 := sharedRoom(t, s, "two")
	r1.persist(core.PersistOptions{}, r1.msg("one a", 10, last1), r1.msg("one b", 11, "one a"), r1.msg("one c", 12, "one b"))
	r2.persist(core.PersistOptions{}, r2.msg("two a", 10, last2), r2.msg("two b", 11, "two a"))
	if _, _, err := q.QueueNewEvents(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if err := q.SendFailed(ctx, "a.test", 1000, 10); err != nil {
		t.Fatal(err)
	}
	if err := q.SendFailed(ctx, "a.test", 2000, 20); err != nil {
		t.Fatal(err)
	}
	got, err := q.Retry(ctx, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	if want := (core.DestinationRetry{Destination: "a.test", FailureTS: 1000, RetryLastTS: 2000, RetryInterval: 20}); got != want {
		t.Fatalf("retry = %+v, want %+v", got, want)
	}
	pending, err := q.PendingDestinations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0] != got {
		t.Fatalf("pending = %+v", pending)
	}
	if err := q.ResetRetry(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Retry(ctx, "a.test"); got.RetryInterval != 0 || got.FailureTS != 1000 {
		t.Fatalf("after reset: %+v", got)
	}
	n, err := q.CatchUp(ctx, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := q.NextBatch(ctx, "a.test", 50, 100)
	var ids []string
	for _, p := range b.PDUs {
		ids = append(ids, p.EventID)
	}
	slices.Sort(ids)
	want := eventIDs("one c", "two b")
	slices.Sort(want)
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Fatalf("after catch-up (-want +got):\n%s (dropped %d)", diff, n)
	}
	if err := q.BatchSent(ctx, "a.test", b); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Retry(ctx, "a.test"); got.FailureTS != 0 {
		t.Fatalf("after a sent batch: %+v", got)
	}
}

// A database at schema version 1 gets the sender's tables, starting after
// the events it already holds.
func TestFederationQueueMigratesFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := testPath(t, "v1.db")
	old := &SchemaTree{FS: hearthSchema.FS, Version: 1, CompatVersion: 1, GoDeltas: hearthSchema.GoDeltas}
	db, err := openWith(ctx, Options{Path: path, Logger: quietLog}, old)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Reader().QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'federation_outbound_pdus'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("version 1 has the queue table: %d, %v", n, err)
	}
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The events are written by today's code, which indexes auth chains
	// in the same write: give the old database the index's tables (the
	// delta is idempotent, so the migration below applies it again).
	delta, err := fs.ReadFile(hearthSchema.FS, "main/delta/2/32event_auth_chains.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, string(delta))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Today's write also moves the federation position past events no
	// other server needs; the version-1 writer connection gets an empty
	// stand-in for the table (temporary, so gone when the database is
	// closed and the migration creates the real one).
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "CREATE TEMP TABLE federation_stream_position (stream_ordering INTEGER NOT NULL)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// It also stores the JSON stripped (deltas 2/75 and 2/78): the columns
	// and table are added for the write and dropped again for the
	// migration to add them. The queue's destinations, checked below, do
	// not read the JSON.
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `ALTER TABLE event_json ADD COLUMN stripped INTEGER NOT NULL DEFAULT 0;
			ALTER TABLE event_json ADD COLUMN auth_set INTEGER;
			CREATE TABLE event_auth_sets (id INTEGER PRIMARY KEY, auth_events TEXT NOT NULL UNIQUE);`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r, last := sharedRoom(t, NewEventStore(db), "old")
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `ALTER TABLE event_json DROP COLUMN stripped;
			ALTER TABLE event_json DROP COLUMN auth_set; DROP TABLE event_auth_sets;`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := newTestStoreWith(t, Options{Path: path, Logger: quietLog})
	r.s = s
	q := NewFederationQueueStore(s.db)
	// What the old database held is history: not sent.
	if dests, _, err := q.QueueNewEvents(ctx, 10); err != nil || len(dests) != 0 {
		t.Fatalf("QueueNewEvents after the migration = %v, %v", dests, err)
	}
	r.persist(core.PersistOptions{}, r.msg("new", 10, last))
	dests, _, err := q.QueueNewEvents(ctx, 10)
	slices.Sort(dests)
	if err != nil || !slices.Equal(dests, []string{"a.test", "b.test"}) {
		t.Fatalf("QueueNewEvents of a new event = %v, %v", dests, err)
	}
}

// The queue across a kill -9: a child persists local events and queues
// them, printing each event once QueueNewEvents returned; the parent kills
// it mid-stream. Every printed event is still queued, and every event the
// child persisted (printed or not) is queued once the store runs again.
const fedQueueChildEnv = "HEARTH_STORAGE_FEDQUEUE_CHILD"

func fedQueueChild(path string) {
	ctx := context.Background()
	s := newTestStoreWith(childTB{}, Options{Path: path, Logger: quietLog})
	q := NewFederationQueueStore(s.db)
	r, last := sharedRoom(childTB{}, s, "crash")
	prev := last
	for i := 0; ; i++ {
		name := fmt.Sprintf("crash %d", i)
		r.persist(core.PersistOptions{}, r.msg(name, int64(10+i), prev))
		if _, _, err := q.QueueNewEvents(ctx, 100); err != nil {
			fmt.Println("queue:", err)
			os.Exit(4)
		}
		fmt.Println(i)
		prev = name
	}
}

// childTB is the testing.TB of the child process: failures end it.
type childTB struct{ testing.TB }

func (childTB) Helper()                        {}
func (childTB) Fatal(args ...any)              { fmt.Println(args...); os.Exit(3) }
func (childTB) Fatalf(format string, a ...any) { fmt.Printf(format+"\n", a...); os.Exit(3) }
func (childTB) Cleanup(func())                 {}

func TestFederationQueueSurvivesKill9(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("needs a child process")
	}
	path := testPath(t, "fedqueue.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fedQueueChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		acked = n
		if n == 200 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if acked < 200 {
		t.Fatalf("child queued only %d events", acked)
	}
	s := newTestStoreWith(t, Options{Path: path, Logger: quietLog})
	ctx := context.Background()
	q := NewFederationQueueStore(s.db)
	queued := func() map[string]bool {
		b, err := q.NextBatch(ctx, "b.test", 100000, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, p := range b.PDUs {
			m[p.EventID] = true
		}
		return m
	}
	before := queued()
	for i := 0; i <= acked; i++ {
		if !before[eventID(fmt.Sprintf("crash %d", i))] {
			t.Fatalf("event %d was queued before the kill but is not queued after it", i)
		}
	}
	if _, _, err := q.QueueNewEvents(ctx, 100000); err != nil {
		t.Fatal(err)
	}
	after := queued()
	var persisted int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM events WHERE type = 'm.room.message' AND sender = ?", alice).Scan(&persisted); err != nil {
		t.Fatal(err)
	}
	msgs := 0
	for id := range after {
		if !slices.Contains(eventIDs("crash member "+alice, "crash member "+bobA, "crash member "+carolB, "crash member "+daveC), id) {
			msgs++
		}
	}
	if msgs != persisted {
		t.Fatalf("%d of the %d persisted messages are queued", msgs, persisted)
	}
}

// TestFederationPositionPassedInWrite checks that a local event of a room
// no other server is in moves the sender's position in its own write, so
// the sender has nothing left to write; an event of a shared room, or an
// invite of a remote user, is left to the sender, and nothing is passed
// while an earlier event waits for it.
func TestFederationPositionPassedInWrite(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	q := NewFederationQueueStore(s.db)
	position := func() int64 {
		t.Helper()
		var pos int64
		if err := s.db.Reader().QueryRowContext(ctx, sqlFedPosition).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return pos
	}
	shared, last := sharedRoom(t, s, "shared")
	if _, _, err := q.QueueNewEvents(ctx, 100); err != nil {
		t.Fatal(err)
	}
	alone := newTestRoom(t, s, "alone")
	so := alone.persist(core.PersistOptions{}, alone.msg("a1", 1))
	if pos := position(); pos != so[0] {
		t.Errorf("after a message of a room of this server only: position %d, want %d", pos, so[0])
	}
	// A message of the shared room waits for the sender; a local-only
	// message after it does not jump over it.
	sm := shared.persist(core.PersistOptions{}, shared.msg("s1", 10, last))
	alone.persist(core.PersistOptions{}, alone.msg("a2", 2, "a1"))
	if pos := position(); pos != so[0] {
		t.Errorf("with a shared room's message waiting: position %d, want %d", pos, so[0])
	}
	dests, _, err := q.QueueNewEvents(ctx, 100)
	slices.Sort(dests)
	if err != nil || !slices.Equal(dests, []string{"a.test", "b.test"}) {
		t.Errorf("QueueNewEvents = %v, %v; want a.test and b.test for %d", dests, err, sm[0])
	}
	// An invite of a remote user to the local-only room goes to its server.
	inv := alone.member("invite", 3, daveC, "invite", "a2")
	inv.Sender = alice
	soInv := alone.persist(core.PersistOptions{}, inv)
	if pos := position(); pos >= soInv[0] {
		t.Errorf("after inviting a remote user: position %d passed the invite %d", pos, soInv[0])
	}
	if dests, _, err := q.QueueNewEvents(ctx, 100); err != nil || !slices.Equal(dests, []string{"c.test"}) {
		t.Errorf("QueueNewEvents after the invite = %v, %v; want c.test", dests, err)
	}
}
