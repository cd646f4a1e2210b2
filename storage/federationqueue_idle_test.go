package storage

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"hearth.dev/hearth/core"
)

// TestQueueWaitingKeptIdle: once QueueWaiting found nothing waiting, the
// messages of a room no other server is in (which pass the sender's
// position in their own write) leave that answer standing, and it is given
// without a read; every write that may give the sender work is seen at
// the next call: a device's login, a local user's presence, a message of a
// room shared with other servers, a remote user's message that the sender
// has not passed, a backfilled event.
func TestQueueWaitingKeptIdle(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	q := NewFederationQueueStore(s.db)
	accounts := NewAccountStore(s.db, AccountOptions{Password: testPasswordParams})
	presence := NewPresenceStore(s.db)
	if _, err := accounts.CreateAccount(ctx, core.NewAccount{UserID: alice, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	drain := func() {
		t.Helper()
		for _, step := range []func(context.Context, int) ([]string, bool, error){
			q.QueueNewEvents, q.QueueDeviceListUpdates, q.QueuePresenceUpdates} {
			if _, _, err := step(ctx, 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(what string, w core.QueueWaiting) {
		t.Helper()
		got, err := q.QueueWaiting(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != w {
			t.Fatalf("%s: QueueWaiting = %+v, want %+v", what, got, w)
		}
	}
	shared, last := sharedRoom(t, s, "kept shared")
	alone := newTestRoom(t, s, "kept alone")
	drain()
	want("everything queued", core.QueueWaiting{})

	// Local messages of the room only this server is in: no read.
	reads := s.db.ReadTransactions()
	prev := ""
	for i := range 20 {
		name := fmt.Sprint("alone ", i)
		var prevs []string
		if prev != "" {
			prevs = []string{prev}
		}
		alone.persist(core.PersistOptions{}, alone.msg(name, int64(i+1), prevs...))
		prev = name
		want(name, core.QueueWaiting{})
	}
	if n := s.db.ReadTransactions() - reads; n != 0 {
		t.Errorf("QueueWaiting after 20 local-only messages began %d read transactions, want 0", n)
	}

	if _, err := accounts.IssueTokens(ctx, core.NewLogin{UserID: alice, DeviceDisplayName: "phone"}); err != nil {
		t.Fatal(err)
	}
	want("a device logged in", core.QueueWaiting{DeviceLists: true})
	drain()
	want("the device queued", core.QueueWaiting{})

	if err := presence.SetPresence(ctx, alice, core.PresenceOnline, nil); err != nil {
		t.Fatal(err)
	}
	want("alice's presence", core.QueueWaiting{Presence: true})
	drain()
	want("the presence queued", core.QueueWaiting{})

	shared.persist(core.PersistOptions{}, shared.msg("shared 1", 10, last))
	want("a message of the shared room", core.QueueWaiting{Events: true})
	// A local-only message after it does not pass it, nor hide it.
	alone.persist(core.PersistOptions{}, alone.msg("alone after shared", 30, prev))
	want("a local-only message behind the shared one", core.QueueWaiting{Events: true})
	drain()
	want("the messages queued", core.QueueWaiting{})

	fromBob := alone.msg("from bob", 31, "alone after shared")
	fromBob.Sender = bobA
	alone.persist(core.PersistOptions{}, fromBob)
	want("a remote user's message", core.QueueWaiting{Events: true})
	drain()
	want("the remote message passed", core.QueueWaiting{})

	alone.persist(core.PersistOptions{}, alone.msg("alone again", 32, "from bob"))
	want("a local-only message again", core.QueueWaiting{})
	back := alone.msg("backfilled", 0)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{back}, core.PersistOptions{Backfilled: true}); err != nil {
		t.Fatal(err)
	}
	reads = s.db.ReadTransactions()
	want("a backfilled event", core.QueueWaiting{})
	if s.db.ReadTransactions() == reads {
		t.Error("QueueWaiting after a backfilled event kept its answer; a write that did not pass the sender's position must be read again")
	}
}

// TestOutboundMovesPerBatch: a batch of writes moves DB.outbound unless
// every write in it that committed said it gives the sender no work; a
// write that failed (rolled back to its savepoint) counts for nothing.
func TestOutboundMovesPerBatch(t *testing.T) {
	db := mustOpen(t)
	ctx := context.Background()
	idle := func(q Queryer) error { noteOutboundIdle(q); return nil }
	plain := func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT OR REPLACE INTO server_config (key, value) VALUES ('outbound test', 'x')")
		return err
	}
	failing := func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "INSERT OR REPLACE INTO server_config (key, value) VALUES ('outbound test', 'y')"); err != nil {
			return err
		}
		return errRefused
	}
	// The index batch armed at open is the one write that would run on
	// its own: paused, and one already started waited for.
	pauseSearchIndex(db)
	// The writer adds a batch to its counts only after telling its
	// callers, so a count read once they returned can miss the last
	// batch. A write's function runs only once the writer has counted
	// every batch before it: counted reads the count from inside an idle
	// write (whose own batch it does not include).
	counted := func() uint64 {
		t.Helper()
		var n uint64
		if err := db.Write(ctx, func(q Queryer) error {
			noteOutboundIdle(q)
			n = db.batches.batches.Load()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		name  string
		fns   []func(Queryer) error
		moves bool
	}{
		{"one idle write", []func(Queryer) error{idle}, false},
		{"one plain write", []func(Queryer) error{plain}, true},
		{"idle writes", []func(Queryer) error{idle, idle, idle}, false},
		{"an idle and a plain write", []func(Queryer) error{idle, plain}, true},
		{"an idle and a failed write", []func(Queryer) error{idle, failing}, false},
		{"a failed write alone", []func(Queryer) error{failing}, false},
	} {
		before := db.outbound.Load()
		batches := counted()
		runOneBatch(t, db, c.fns...)
		// counted's own batch, the holding one, then the writes'.
		if n := counted() - batches; n != 3 {
			t.Fatalf("%s: the writes took %d transactions besides the holding one, want 1", c.name, int(n)-2)
		}
		if moved := db.outbound.Load() != before; moved != c.moves {
			t.Errorf("%s: outbound moved %v, want %v", c.name, moved, c.moves)
		}
	}
}

// errRefused is the error of TestOutboundMovesPerBatch's failing write.
var errRefused = errors.New("refused")

// runOneBatch runs fns as writes of one batch of the writer: a first,
// idle write holds the writer until all of them are queued.
func runOneBatch(t *testing.T, db *DB, fns ...func(Queryer) error) {
	t.Helper()
	ctx := context.Background()
	hold, held := make(chan struct{}), make(chan struct{})
	holding := make(chan error, 1)
	go func() {
		holding <- db.Write(ctx, func(q Queryer) error {
			noteOutboundIdle(q)
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	errs := make(chan error, len(fns))
	for _, fn := range fns {
		go func() { errs <- db.Write(ctx, fn) }()
	}
	for len(db.writes) < len(fns) {
		runtime.Gosched()
	}
	close(hold)
	if err := <-holding; err != nil {
		t.Fatal(err)
	}
	for range fns {
		if err := <-errs; err != nil && !errors.Is(err, errRefused) {
			t.Fatal(err)
		}
	}
}
