package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

// scopeRowsDB opens a database whose checkpointer waits (the test sets the
// WAL's size itself) holding ten rows read-scope-rows-00 … 09.
func scopeRowsDB(t *testing.T) (*DB, *checkpointer) {
	t.Helper()
	db, c := haltedCheckpointer(t, Options{Path: filepath.Join(t.TempDir(), "hearth.db"), Logger: quietLog})
	ctx := context.Background()
	for i := range 10 {
		if err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, "INSERT INTO server_config (key, value) VALUES (?, ?)", fmt.Sprintf("read-scope-rows-%02d", i), "v")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return db, c
}

// ageScope makes the transaction of ctx's scope older than maxScopeAge.
func ageScope(db *DB, ctx context.Context) {
	s := db.scopeOf(ctx)
	s.mu.Lock()
	s.began = time.Now().Add(-2 * maxScopeAge)
	s.mu.Unlock()
}

// keepScopeYoung keeps the transaction of ctx's scope from being renewed
// for its age (one hour to go): a test that checks one snapshot runs
// slower than maxScopeAge under -race on a busy machine. No-op without a
// transaction (one connection).
func keepScopeYoung(db *DB, ctx context.Context) {
	s := db.scopeOf(ctx)
	if s == nil {
		return
	}
	s.mu.Lock()
	s.began = time.Now().Add(time.Hour)
	s.mu.Unlock()
}

// TestReadScopeCachedRowsOutliveRenewal checks that rows of a Cached query
// in a read scope are read to the end while the request makes other reads
// inside the loop, once the scope's transaction is older than maxScopeAge
// or the WAL is past the finish mark: ending the transaction for either
// would cut the rows ("context canceled" after the first row).
func TestReadScopeCachedRowsOutliveRenewal(t *testing.T) {
	for _, tc := range []struct {
		name string
		due  func(db *DB, c *checkpointer, ctx context.Context)
	}{
		{"age", func(db *DB, _ *checkpointer, ctx context.Context) { ageScope(db, ctx) }},
		{"WAL pressure", func(_ *DB, c *checkpointer, _ context.Context) { c.files[0].pages.Store(finishPages) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, c := scopeRowsDB(t)
			ctx, end := db.ReadScope(context.Background())
			defer end()
			rows, err := db.Cached().QueryContext(ctx, "SELECT key FROM server_config WHERE key LIKE 'read-scope-rows-%' ORDER BY key")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			tc.due(db, c, ctx)
			n := 0
			for rows.Next() {
				var k, v string
				if err := rows.Scan(&k); err != nil {
					t.Fatal(err)
				}
				n++
				if err := db.Cached().QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = ?", k).Scan(&v); err != nil {
					t.Fatalf("Cached read inside the loop: %v", err)
				}
				if err := db.Read(ctx, func(q Queryer) error {
					return q.QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = ?", k).Scan(&v)
				}); err != nil {
					t.Fatalf("Read inside the loop: %v", err)
				}
			}
			if err := rows.Err(); err != nil || n != 10 {
				t.Fatalf("Cached rows read inside a scope: %d of 10, err %v", n, err)
			}
		})
	}
}

// TestReadScopeRenewsAfterRelease checks that the scope still renews its
// transaction for its age where no Cached rows can be open: with single
// reads only, and after a release ended a transaction in which Cached
// rows were read. A renewed transaction sees what was committed meanwhile.
func TestReadScopeRenewsAfterRelease(t *testing.T) {
	db, _ := scopeRowsDB(t)
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	ctx, end := db.ReadScope(bg)
	defer end()
	scopeValues(t, ctx, db)
	setScopeValue(t, bg, db, "two")
	ageScope(db, ctx)
	if r, c := scopeValues(t, ctx, db); r != "two" || c != "two" {
		t.Fatalf("reads after the scope's transaction aged = %q, %q; want two (a new transaction)", r, c)
	}

	rows, err := db.Cached().QueryContext(ctx, "SELECT key FROM server_config WHERE key LIKE 'read-scope-rows-%'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	setScopeValue(t, bg, db, "three")
	ageScope(db, ctx)
	if r, _ := scopeValues(t, ctx, db); r != "two" {
		t.Fatalf("read after Cached rows in an aged transaction = %q, want two (kept: the rows may be open)", r)
	}
	core.ReleaseReads(ctx)
	scopeValues(t, ctx, db)
	setScopeValue(t, bg, db, "four")
	ageScope(db, ctx)
	if r, c := scopeValues(t, ctx, db); r != "four" || c != "four" {
		t.Errorf("reads of an aged transaction begun after a release = %q, %q; want four (renewed)", r, c)
	}
}

// TestReadScopePanicInRead checks that a panic in a scoped Read's function
// (net/http recovers a handler's panic and the server goes on) leaves no
// read transaction held once the request ends: its connection, scope slot
// and WAL snapshot come back.
func TestReadScopePanicInRead(t *testing.T) {
	db, _ := scopeRowsDB(t)
	ctx, end := db.ReadScope(context.Background())
	recovered := func() (p any) {
		defer func() { p = recover() }()
		_ = db.Read(ctx, func(q Queryer) error {
			var v string
			if err := q.QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = 'read-scope-rows-00'").Scan(&v); err != nil {
				return err
			}
			panic("a bug in a read function")
		})
		return nil
	}()
	if recovered == nil {
		t.Fatal("the read function's panic did not reach the caller")
	}
	if n := db.ReadScopeTransactions(); n != 1 {
		t.Fatalf("transactions held by the scope after the read = %d, want 1 (the read ran in the scope)", n)
	}
	end()
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Fatalf("transactions held by scopes after the request ended = %d, want 0", n)
	}
}

// TestReadScopeReleasedWhileReading checks that a read beginning after the
// request released its scope does not join the released transaction while
// another read still runs in it: it sees what was committed before the
// release.
func TestReadScopeReleasedWhileReading(t *testing.T) {
	db, _ := scopeRowsDB(t)
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	ctx, end := db.ReadScope(bg)
	defer end()
	const q = "SELECT value FROM server_config WHERE key = ?"
	var before, after string
	if err := db.Read(ctx, func(r Queryer) error {
		if err := r.QueryRowContext(ctx, q, scopeKey).Scan(&before); err != nil {
			return err
		}
		keepScopeYoung(db, ctx)
		setScopeValue(t, bg, db, "two") // another request commits
		core.ReleaseReads(ctx)          // this read still runs in the transaction
		return db.Cached().QueryRowContext(ctx, q, scopeKey).Scan(&after)
	}); err != nil {
		t.Fatal(err)
	}
	if before != "one" || after != "two" {
		t.Fatalf("reads before and after the release = %q, %q; want one, two", before, after)
	}
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("transactions held by the released scope once its reads are done = %d, want 0", n)
	}
}

// TestReadScopeConcurrentUse has goroutines of one request read, release,
// write and end the scope at once (for -race): no transaction may be left
// held, and a read after the end sees the latest commit.
func TestReadScopeConcurrentUse(t *testing.T) {
	db, _ := scopeRowsDB(t)
	bg := context.Background()
	setScopeValue(t, bg, db, "one")
	ctx, end := db.ReadScope(bg)
	const q = "SELECT value FROM server_config WHERE key = ?"
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 60 {
				var v string
				switch (g + i) % 4 {
				case 0:
					// Errors are not checked: a release by another
					// goroutine may cut a read (Cached's comment).
					_ = db.Read(ctx, func(r Queryer) error { return r.QueryRowContext(ctx, q, scopeKey).Scan(&v) })
				case 1:
					_ = db.Cached().QueryRowContext(ctx, q, scopeKey).Scan(&v)
				case 2:
					core.ReleaseReads(ctx)
				case 3:
					if i%10 == 3 {
						setScopeValue(t, ctx, db, fmt.Sprint(g, i))
					}
				}
				if g == 0 && i == 40 {
					end() // the request ends while other goroutines still read
				}
			}
		})
	}
	wg.Wait()
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Fatalf("transactions held by the scope after its end = %d, want 0", n)
	}
	setScopeValue(t, bg, db, "last")
	if r, c := scopeValues(t, ctx, db); r != "last" || c != "last" {
		t.Errorf("reads after the scope's end = %q, %q; want last", r, c)
	}
}
