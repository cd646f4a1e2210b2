package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"hearth.dev/hearth/core"
)

const scopeKey = "read-scope-test"

func setScopeValue(t *testing.T, ctx context.Context, db *DB, v string) {
	t.Helper()
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT OR REPLACE INTO server_config (key, value) VALUES (?, ?)", scopeKey, v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// scopeValues reads the test value through Read and through Cached.
func scopeValues(t *testing.T, ctx context.Context, db *DB) (read, cached string) {
	t.Helper()
	const q = "SELECT value FROM server_config WHERE key = ?"
	if err := db.Read(ctx, func(r Queryer) error {
		return r.QueryRowContext(ctx, q, scopeKey).Scan(&read)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Cached().QueryRowContext(ctx, q, scopeKey).Scan(&cached); err != nil {
		t.Fatal(err)
	}
	return read, cached
}

// TestReadScopeOneSnapshot checks that the reads of a scope share one
// transaction: they do not see what another request committed meanwhile,
// they see the scope's own writes, and a released or ended scope reads
// anew. In single-connection mode (the browser) a scope does nothing and
// every read sees the latest commit.
func TestReadScopeOneSnapshot(t *testing.T) { openBoth(t, testReadScopeOneSnapshot) }

func testReadScopeOneSnapshot(t *testing.T, db *DB) {
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	ctx, end := db.ReadScope(bg)
	defer end()
	scoped := !db.single

	txs := db.ReadTransactions()
	if err := db.Read(ctx, func(Queryer) error { return nil }); err != nil { // begins the scope's transaction
		t.Fatal(err)
	}
	keepScopeYoung(db, ctx)
	if r, c := scopeValues(t, ctx, db); r != "one" || c != "one" {
		t.Fatalf("first reads = %q, %q; want one", r, c)
	}
	// Another request commits.
	setScopeValue(t, bg, db, "two")
	want := "two"
	if scoped {
		want = "one"
	}
	for range 3 {
		if r, c := scopeValues(t, ctx, db); r != want || c != want {
			t.Fatalf("reads after another request's commit = %q, %q; want %q", r, c, want)
		}
	}
	if scoped {
		if n := db.ReadTransactions() - txs; n != 1 {
			t.Errorf("nine reads in a scope began %d read transactions, want 1", n)
		}
		if n := db.ReadScopeTransactions(); n != 1 {
			t.Errorf("transactions held by scopes = %d, want 1", n)
		}
	}

	// The scope's own write is seen by its next reads.
	setScopeValue(t, ctx, db, "three")
	if r, c := scopeValues(t, ctx, db); r != "three" || c != "three" {
		t.Fatalf("reads after the scope's own write = %q, %q; want three", r, c)
	}
	keepScopeYoung(db, ctx)

	// Released, the scope reads what others committed since.
	setScopeValue(t, bg, db, "four")
	if scoped {
		if r, _ := scopeValues(t, ctx, db); r != "three" {
			t.Fatalf("read before release = %q, want three", r)
		}
	}
	core.ReleaseReads(ctx)
	if r, c := scopeValues(t, ctx, db); r != "four" || c != "four" {
		t.Fatalf("reads after release = %q, %q; want four", r, c)
	}

	// A context stripped of the scope reads on its own.
	setScopeValue(t, bg, db, "five")
	if r, c := scopeValues(t, core.WithReadScope(ctx, nil), db); r != "five" || c != "five" {
		t.Fatalf("reads without the scope = %q, %q; want five", r, c)
	}

	end()
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("transactions held by scopes after the end = %d, want 0", n)
	}
	if r, c := scopeValues(t, ctx, db); r != "five" || c != "five" {
		t.Fatalf("reads after the scope's end = %q, %q; want five", r, c)
	}
}

// TestReadScopeSlots checks that scopes hold at most one connection fewer
// than the read pool: the scope that finds no slot reads on its own, and
// reads without a scope still find a connection while every slot is held.
func TestReadScopeSlots(t *testing.T) {
	if testVFS != "" {
		t.Skip("a browser VFS: single-connection mode")
	}
	db := mustOpenWith(t, Options{Path: filepath.Join(t.TempDir(), "hearth.db"), Readers: 3, Logger: quietLog})
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	var ctxs []context.Context
	for range 3 {
		ctx, end := db.ReadScope(bg)
		defer end()
		ctxs = append(ctxs, ctx)
	}
	for _, ctx := range ctxs[:2] {
		scopeValues(t, ctx, db)
		keepScopeYoung(db, ctx)
	}
	if n := db.ReadScopeTransactions(); n != 2 {
		t.Fatalf("transactions held by two scopes = %d, want 2", n)
	}
	setScopeValue(t, bg, db, "two")
	// The third scope finds no slot: each of its reads is its own.
	if r, c := scopeValues(t, ctxs[2], db); r != "two" || c != "two" {
		t.Fatalf("reads of a scope without a slot = %q, %q; want two", r, c)
	}
	if n := db.ReadScopeTransactions(); n != 2 {
		t.Errorf("transactions held by scopes = %d, want 2", n)
	}
	if r, _ := scopeValues(t, ctxs[0], db); r != "one" {
		t.Errorf("a scope holding a slot read %q, want one", r)
	}
}

// TestReadScopeCheckpoint checks that a scope's transaction pins the WAL
// (a checkpoint stops at its snapshot) and that a released scope does not:
// the checkpoint then copies the whole WAL.
func TestReadScopeCheckpoint(t *testing.T) {
	db, c := haltedCheckpointer(t, Options{Path: filepath.Join(t.TempDir(), "hearth.db"), Logger: quietLog})
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	ctx, end := db.ReadScope(bg)
	defer end()
	scopeValues(t, ctx, db)
	keepScopeYoung(db, ctx)
	insertBlobs(t, db, "scope_blobs", 50)
	if log, done := c.run(db, c.files[0]); log == 0 || done >= log {
		t.Fatalf("checkpoint beside a scope's transaction copied %d of %d frames, want it to stop short", done, log)
	}
	core.ReleaseReads(ctx)
	if log, done := c.run(db, c.files[0]); log == 0 || done != log {
		t.Fatalf("checkpoint after the scope's release copied %d of %d frames, want all", done, log)
	}
	// The scope reads on, in a new transaction.
	if r, _ := scopeValues(t, ctx, db); r != "one" {
		t.Fatalf("read after release = %q, want one", r)
	}
}

// TestRoomListFillsOutsideScope checks that a room list read to fill the
// cache is not read in a read scope's transaction: one begun before a join
// that was applied (to no cached list) since would miss the join, and the
// cache would keep that list.
func TestRoomListFillsOutsideScope(t *testing.T) {
	bg := context.Background()
	alice := "@alice:" + testServer
	s := newTestStore(t)
	join := func(n int) {
		r := newTestRoom(t, s, fmt.Sprint("scope ", n))
		ev := r.member(fmt.Sprint("scope join ", n), 1, alice, "join")
		r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
	}
	join(0)
	ctx, end := s.db.ReadScope(bg)
	defer end()
	if _, err := s.StreamPosition(ctx); err != nil { // begins the scope's transaction
		t.Fatal(err)
	}
	join(1)
	l, err := s.RoomList(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 2 {
		t.Errorf("room list read in a scope has %d rooms, want 2", l.Len())
	}
	end()
	if l, err := s.RoomList(bg, alice); err != nil || l.Len() != 2 {
		t.Errorf("cached room list has %d rooms (%v), want 2", l.Len(), err)
	}
}

// TestReadScopeWALPressure checks that while the WAL is past the size from
// which checkpoints are finished inside a write, a scope keeps no
// transaction between reads: each read sees the latest commit, as without
// a scope, and no snapshot is held between them.
func TestReadScopeWALPressure(t *testing.T) {
	db, c := haltedCheckpointer(t, Options{Path: filepath.Join(t.TempDir(), "hearth.db"), Logger: quietLog})
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	ctx, end := db.ReadScope(bg)
	defer end()
	scopeValues(t, ctx, db)
	if n := db.ReadScopeTransactions(); n != 1 {
		t.Fatalf("transactions held by a scope = %d, want 1", n)
	}
	setScopeValue(t, bg, db, "two")
	c.files[0].pages.Store(finishPages) // after the write: its commit sets the size
	if r, c := scopeValues(t, ctx, db); r != "two" || c != "two" {
		t.Fatalf("reads of a scope under WAL pressure = %q, %q; want two", r, c)
	}
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("transactions held by a scope between reads under WAL pressure = %d, want 0", n)
	}
	c.files[0].pages.Store(0)
	scopeValues(t, ctx, db)
	keepScopeYoung(db, ctx)
	setScopeValue(t, bg, db, "three")
	if r, _ := scopeValues(t, ctx, db); r != "two" {
		t.Errorf("read of a scope once the pressure is gone = %q, want two (one snapshot again)", r)
	}
}
