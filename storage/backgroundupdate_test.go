package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// fillUpdate copies kv rows into kv_copy in key order, remembering the last
// key done: the shape of a typical index or column backfill.
func fillUpdate(perItem time.Duration, batches *int) BackgroundUpdate {
	return func(ctx context.Context, q Queryer, progress json.RawMessage, batch int) (json.RawMessage, int, bool, error) {
		var p struct{ Last int }
		p.Last = -1
		if err := json.Unmarshal(progress, &p); err != nil {
			return nil, 0, false, err
		}
		if string(progress) == "{}" {
			p.Last = -1
		}
		res, err := q.ExecContext(ctx,
			"INSERT INTO kv_copy SELECT k, v FROM kv WHERE k > ? ORDER BY k LIMIT ?", p.Last, batch)
		if err != nil {
			return nil, 0, false, err
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			return nil, 0, true, nil
		}
		if err := q.QueryRowContext(ctx, "SELECT max(k) FROM kv_copy").Scan(&p.Last); err != nil {
			return nil, 0, false, err
		}
		time.Sleep(perItem * time.Duration(n))
		*batches++
		next, _ := json.Marshal(p)
		return next, int(n), false, nil
	}
}

func setupFill(t *testing.T, db *DB, rows int) {
	t.Helper()
	createKV(t, db)
	ctx := context.Background()
	err := db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "CREATE TABLE kv_copy (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i+1 < ?)
			INSERT INTO kv SELECT i, 'v' || i FROM n`, rows)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackgroundUpdateResumesAfterStop(t *testing.T) {
	o := testOptions(t)
	db, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	setupFill(t, db, 1000)
	bu := NewBackgroundUpdates(db)
	bu.MinBatch, bu.MaxBatch = 10, 10 // fixed batches: stop after a known number
	batches := 0
	bu.Register("fill_kv_copy", fillUpdate(0, &batches))
	if err := bu.Schedule(context.Background(), "fill_kv_copy", "", 0); err != nil {
		t.Fatal(err)
	}

	// Stop it half-way, from inside a batch, as a shutdown would.
	ctx, cancel := context.WithCancel(context.Background())
	bu.Register("fill_kv_copy", func(c context.Context, q Queryer, p json.RawMessage, n int) (json.RawMessage, int, bool, error) {
		next, items, done, err := fillUpdate(0, &batches)(c, q, p, n)
		if batches == 50 {
			cancel()
		}
		return next, items, done, err
	})
	if err := bu.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run stopped with %v, want context.Canceled", err)
	}
	if got := countRows(t, db, "kv_copy"); got != 500 {
		t.Fatalf("after stopping at batch 50: %d rows copied, want 500", got)
	}
	pending, err := db.PendingUpdates(context.Background())
	if err != nil || len(pending) != 1 || string(pending[0].Progress) != `{"Last":499}` {
		t.Fatalf("pending after stop: %+v, %v", pending, err)
	}
	db.Close()

	// A new process resumes from the saved progress.
	db = mustOpenWith(t, o)
	bu = NewBackgroundUpdates(db)
	bu.MinBatch, bu.MaxBatch = 10, 10
	batches = 0
	bu.Register("fill_kv_copy", fillUpdate(0, &batches))
	if err := bu.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db, "kv_copy"); got != 1000 {
		t.Errorf("after resume: %d rows, want 1000", got)
	}
	if batches != 50 {
		t.Errorf("resume took %d batches, want 50 (no batch redone)", batches)
	}
	if pending, _ := db.PendingUpdates(context.Background()); len(pending) != 0 {
		t.Errorf("still pending: %+v", pending)
	}
}

func TestBackgroundUpdateBatchSizeFollowsTarget(t *testing.T) {
	db := mustOpen(t)
	setupFill(t, db, 3000)
	bu := NewBackgroundUpdates(db)
	bu.Target = 20 * time.Millisecond
	batches := 0
	bu.Register("fill_kv_copy", fillUpdate(100*time.Microsecond, &batches)) // ~200 items per target
	bu.Schedule(context.Background(), "fill_kv_copy", "", 0)
	if err := bu.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := bu.Status()
	if len(st) != 1 || st[0].Items != 3000 {
		t.Fatalf("status %+v", st)
	}
	if st[0].BatchSize < 50 || st[0].BatchSize > 800 {
		t.Errorf("batch size settled at %d, want near 200 for a 20ms target at 100µs/item", st[0].BatchSize)
	}
}

func TestBackgroundUpdateDependencies(t *testing.T) {
	db := mustOpen(t)
	createKV(t, db)
	bu := NewBackgroundUpdates(db)
	var order []string
	step := func(name string) BackgroundUpdate {
		return func(context.Context, Queryer, json.RawMessage, int) (json.RawMessage, int, bool, error) {
			order = append(order, name)
			return nil, 1, true, nil
		}
	}
	bu.Register("second", step("second"))
	bu.Register("first", step("first"))
	ctx := context.Background()
	bu.Schedule(ctx, "second", "first", 0) // lower ordering, but waits on first
	bu.Schedule(ctx, "first", "", 5)
	if err := bu.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(order) != "[first second]" {
		t.Errorf("ran %v, want [first second]", order)
	}
}

func TestBackgroundUpdateWithoutHandler(t *testing.T) {
	db := mustOpen(t)
	bu := NewBackgroundUpdates(db)
	bu.Schedule(context.Background(), "from_the_future", "", 0)
	if err := bu.Run(context.Background()); !errors.Is(err, ErrNoHandler) {
		t.Errorf("Run: %v, want ErrNoHandler", err)
	}
}

func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackgroundUpdatesTwoFiles checks that with the state database in a
// file of its own (the connections' primary) the updates are still those
// of hearth.db.
func TestBackgroundUpdatesTwoFiles(t *testing.T) {
	o := testOptions(t)
	o.StatePath = testPath(t, "state.db")
	db := mustOpenWith(t, o)
	bu := NewBackgroundUpdates(db)
	if err := bu.Schedule(context.Background(), "two_files", "", 1); err != nil {
		t.Fatal(err)
	}
	var inMain, inState int
	if err := db.Reader().QueryRow(`SELECT
		(SELECT count(*) FROM hearth.background_updates WHERE update_name = 'two_files'),
		(SELECT count(*) FROM main.background_updates WHERE update_name = 'two_files')`).Scan(&inMain, &inState); err != nil {
		t.Fatal(err)
	}
	if inMain != 1 || inState != 0 {
		t.Errorf("scheduled update: %d in hearth.db, %d in the state file; want 1 and 0", inMain, inState)
	}
	pending, err := db.PendingUpdates(context.Background())
	if err != nil || !slices.ContainsFunc(pending, func(p PendingUpdate) bool { return p.Name == "two_files" }) {
		t.Errorf("PendingUpdates = %v, %v; want two_files listed", pending, err)
	}
}
