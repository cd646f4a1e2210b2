package main

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3/driver"
)

// warmTook is how long warmSQLite took (a time.Duration).
var warmTook atomic.Int64

// warmSQL runs the kinds of statement a start runs (schema, pragmas,
// writes in a transaction, reads with joins, indexes and JSON) on a
// throwaway in-memory database.
const warmSQL = `
CREATE TABLE w (k TEXT PRIMARY KEY, v INTEGER NOT NULL, j TEXT) STRICT;
CREATE INDEX w_v ON w (v);
CREATE TABLE x (k TEXT NOT NULL REFERENCES w (k) ON DELETE CASCADE, n INTEGER);
`

// startAsked is set when the page has asked for the start (bridge_js.go).
var startAsked atomic.Bool

// programStart is when the Go program began (package initialisation), and
// startAskedAfter how long after it the bridge's start was first called
// (a time.Duration; status().startupPhases.askedAfterMs): with warmSteps,
// whether a warm-up ran in front of a start already asked for.
var (
	programStart    = time.Now()
	startAskedAfter atomic.Int64
)

// noteStartAsked records the first call of the bridge's start.
func noteStartAsked() {
	if !startAsked.Swap(true) {
		startAskedAfter.Store(int64(time.Since(programStart)))
	}
}

// warmSteps counts the warm-up's statements run (tests).
var warmSteps atomic.Int64

// warmStepHook, when set (tests), is called before each statement's check.
var warmStepHook func()

// warmYield is how long the warm-up sleeps before each statement: long
// enough for the Go program to return to the worker's event loop, which
// then delivers a start the page asked for meanwhile.
const warmYield = time.Millisecond

// warmSQLite runs SQLite once before the homeserver is asked to start.
// The browser compiles wasm functions on their first call, and SQLite's
// (the parser, the code generator, the virtual machine, the b-tree) are
// the largest in the module: compiling them here, while the page is still
// loading, takes that time out of the start. It is only a head start:
// an error is logged and changes nothing.
//
// It runs only while nothing waits for it: before each statement it
// yields to the worker's event loop and stops once the page has asked for
// the start, which then compiles what it needs itself. Run to its end in
// front of a start already asked for (as it did: Go does not return to
// the event loop while a goroutine can run, so the start's message waited
// behind it), it cost a reload 0.45-0.5 s on a quiet machine and up to
// 6 s under load, of which the start gained back only the part of
// SQLite's code both compile.
//
// A first visit skips it (the worker script sets HEARTH_NO_DATABASE when
// this origin's OPFS holds no database): nothing was preloaded there, the
// page asks for the start before the wasm is even compiled.
func warmSQLite(log *slog.Logger) {
	if os.Getenv("HEARTH_NO_DATABASE") != "" {
		log.Debug("SQLite warm-up skipped: no database yet")
		return
	}
	began := time.Now()
	ctx := context.Background()
	// ask yields, then reports whether the warm-up may run its next
	// statement.
	ask := func() bool {
		time.Sleep(warmYield)
		if warmStepHook != nil {
			warmStepHook()
		}
		if startAsked.Load() {
			return false
		}
		warmSteps.Add(1)
		return true
	}
	if !ask() {
		log.Debug("SQLite warm-up skipped: the start was asked for")
		return
	}
	db, err := driver.Open("file:/warm?vfs=" + memoryVFSName + "&_pragma=foreign_keys(1)&_pragma=journal_mode(wal)&_pragma=locking_mode(exclusive)")
	if err != nil {
		log.Debug("warm-up", "err", err)
		return
	}
	db.SetMaxOpenConns(1)
	stopped := false
	err = func() error {
		if !ask() {
			stopped = true
			return nil
		}
		if _, err := db.ExecContext(ctx, warmSQL); err != nil {
			return err
		}
		if !ask() {
			stopped = true
			return nil
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for i, k := range []string{"a", "b", "c"} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO w (k, v, j) VALUES (?, ?, json_object('n', ?))
				ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, i, i); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO x (k, n) VALUES (?, ?)", k, i); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE w SET v = v + 1 WHERE k = ?", "a"); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if !ask() {
			stopped = true
			return nil
		}
		var n, sum int
		if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(json_extract(w.j, '$.n')), 0) FROM w
			JOIN x USING (k) WHERE w.v >= ? AND NOT EXISTS (SELECT 1 FROM x AS y WHERE y.k = w.k AND y.n < 0)
			GROUP BY w.k ORDER BY w.v DESC LIMIT 1`, 0).Scan(&n, &sum); err != nil {
			return err
		}
		if !ask() {
			stopped = true
			return nil
		}
		_, err = db.ExecContext(ctx, "DELETE FROM w WHERE k = ?", "b")
		return err
	}()
	took := time.Since(began)
	warmTook.Store(int64(took))
	log.Debug("SQLite warmed up", "took", took.Round(time.Millisecond), "stopped_for_start", stopped, "err", err)
	if err := db.Close(); err == nil {
		backendMemory.removeDatabase("/warm")
	}
}
