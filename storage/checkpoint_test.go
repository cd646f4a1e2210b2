package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"testing"
)

// TestCheckpointBesideWriter checks that natively the writer's commits no
// longer copy the WAL into the database file, that a commit leaving the
// WAL past the mark wakes the checkpointer, and that its checkpoint copies
// the WAL into the file with every row still there; in single-connection
// mode (the browser) SQLite's own automatic checkpoints stay.
func TestCheckpointBesideWriter(t *testing.T) {
	if testVFS != "" {
		t.Skip("a browser VFS: single-connection mode, tested below")
	}
	ctx := context.Background()
	db := mustOpen(t)
	c := db.ckpt
	if c == nil {
		t.Fatal("a native DB has no checkpointer")
	}
	// Stopped, so that what happens to the files is only the writer's doing.
	c.halt()
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "CREATE TABLE blobs (b BLOB NOT NULL)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.wake:
	default:
	}
	size := func(p string) int64 {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size(db.Path())

	const rows = 1500 // 4 KiB each: about 1.5 pages a row, well past the mark
	for i := 0; i < rows; i += 100 {
		if err := db.Write(ctx, func(q Queryer) error {
			for range 100 {
				if _, err := q.ExecContext(ctx, "INSERT INTO blobs (b) VALUES (?)", rand.Text()+string(make([]byte, 4096))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := size(db.Path()); got != before {
		t.Errorf("database file %d bytes after the writes, %d before: the writer checkpointed", got, before)
	}
	if got := size(db.Path() + "-wal"); got < rows*4096 {
		t.Errorf("WAL %d bytes, want at least %d", got, rows*4096)
	}
	if len(c.wake) != 1 {
		t.Fatal("a WAL past the mark did not wake the checkpointer")
	}

	// A reader's snapshot keeps the WAL from starting over at the next
	// write, as readers under load do.
	rtx, err := db.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	var n int
	if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM blobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	c.run(db, c.files[0])
	<-c.wake
	st := db.CheckpointStats()
	if st.Runs != 1 || st.Frames < rows {
		t.Errorf("CheckpointStats = %+v, want 1 run copying at least %d frames", st, rows)
	}
	if got := size(db.Path()); got < before+rows*4096 {
		t.Errorf("database file %d bytes after the checkpoint, want at least %d", got, before+rows*4096)
	}
	if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blobs").Scan(&n); err != nil || n != rows {
		t.Errorf("count = %d, %v; want %d", n, err, rows)
	}

	// Past the mark, the writer asks again only once checkpointBatch
	// pages were added after what the last checkpoint copied.
	insert := func(n int) { t.Helper(); insertBlobs(t, db, "blobs", n) }
	insert(10)
	if len(c.wake) != 0 {
		t.Error("10 pages after a checkpoint woke the checkpointer")
	}
	insert(checkpointBatch)
	if len(c.wake) != 1 {
		t.Errorf("%d pages after a checkpoint did not wake the checkpointer", checkpointBatch+10)
	}
}

// TestCheckpointSingleConnection checks that in single-connection mode
// there is no checkpointer and SQLite's automatic checkpoint, in the
// commit that took the WAL past the mark, copies it into the database file.
func TestCheckpointSingleConnection(t *testing.T) {
	skipInBrowser(t)
	ctx := context.Background()
	db := openSingle(t)
	if db.ckpt != nil {
		t.Fatal("a single-connection DB has a checkpointer")
	}
	size := func() int64 {
		t.Helper()
		st, err := os.Stat(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	const rows = 1500
	if err := db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "CREATE TABLE blobs (b BLOB NOT NULL)"); err != nil {
			return err
		}
		for range rows {
			if _, err := q.ExecContext(ctx, "INSERT INTO blobs (b) VALUES (?)", make([]byte, 4096)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := size(); got < before+rows*4096 {
		t.Errorf("database file %d bytes after the commit, want at least %d: no checkpoint in the commit", got, before+rows*4096)
	}
	if st := db.CheckpointStats(); st != (CheckpointStats{}) {
		t.Errorf("CheckpointStats = %+v, want zero", st)
	}
}

// TestCheckpointFinishRestartsWAL checks that a WAL past finishPages is
// checkpointed to its end inside a write, after which the writer's next
// write starts the WAL over.
func TestCheckpointFinishRestartsWAL(t *testing.T) {
	ctx := context.Background()
	db, c := haltedCheckpointer(t, testOptions(t))
	insert := func(n int) { t.Helper(); insertBlobs(t, db, "blobs", n) }
	for range 9 {
		insert(500)
	}
	if log, _ := c.run(db, c.files[0]); log < finishPages {
		t.Fatalf("WAL of %d frames after 4,500 pages written, want at least %d", log, finishPages)
	}
	c.finish(db, c.files[0])
	if st := db.CheckpointStats(); st.Finishes != 1 || st.Runs != 2 {
		t.Errorf("CheckpointStats = %+v, want 2 runs, 1 finished inside a write", st)
	}
	insert(1)
	if log, _ := c.run(db, c.files[0]); log >= 100 {
		t.Errorf("WAL of %d frames after one small write following the finished checkpoint: it did not start over", log)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blobs").Scan(&n); err != nil || n != 4501 {
		t.Errorf("count = %d, %v; want 4501", n, err)
	}
}

// TestCheckpointFinishWaitsForGrowth checks that a finish that could not
// reach the end of the WAL (a reader keeps an older snapshot) is not tried
// again until the WAL grew by finishPages, so the writer does not wait for
// one after every checkpointBatch pages; once the reader is gone the next
// due finish lets the WAL start over.
func TestCheckpointFinishWaitsForGrowth(t *testing.T) {
	ctx := context.Background()
	db, c := haltedCheckpointer(t, testOptions(t))
	f := c.files[0]
	insert := func(n int) { t.Helper(); insertBlobs(t, db, "blobs", n) }
	insert(10)
	rtx, err := db.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM blobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	for range 9 {
		insert(500)
	}
	c.checkpoint(db)
	if got := db.CheckpointStats().Finishes; got != 1 {
		t.Fatalf("%d finishes with a WAL past finishPages, want 1", got)
	}
	if f.finishAt < finishPages+4500 {
		t.Errorf("finishAt = %d after a finish a reader stopped short, want at least %d", f.finishAt, finishPages+4500)
	}
	insert(checkpointBatch)
	c.checkpoint(db)
	if got := db.CheckpointStats().Finishes; got != 1 {
		t.Errorf("%d finishes after %d more pages, want still 1", got, checkpointBatch)
	}
	rtx.Rollback()
	for range 8 {
		insert(500)
	}
	c.checkpoint(db)
	if got := db.CheckpointStats().Finishes; got != 2 {
		t.Errorf("%d finishes after the WAL grew by finishPages more, want 2", got)
	}
	if f.finishAt != finishPages {
		t.Errorf("finishAt = %d after a finish that reached the end, want %d", f.finishAt, finishPages)
	}
	insert(1)
	if log, _ := c.run(db, f); log >= 100 {
		t.Errorf("WAL of %d frames after one small write following the finished checkpoint: it did not start over", log)
	}
}

// TestCheckpointTwoFiles checks that with the state in a file of its own
// each file's WAL is checkpointed and finished on its own figures: writes
// to hearth.db (attached) leave its WAL large while the state's is small.
func TestCheckpointTwoFiles(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	o.StatePath = testPath(t, "state.db")
	db, c := haltedCheckpointer(t, o)
	if len(c.files) != 2 || c.files[0].schema != "main" || c.files[1].schema != "hearth" {
		t.Fatalf("checkpointer files %v, want main and hearth", c.files)
	}
	insert := func(n int) { t.Helper(); insertBlobs(t, db, "hearth.blobs", n) }
	for range 9 {
		insert(500)
	}
	if len(c.wake) != 1 {
		t.Error("hearth.db's WAL past the mark did not wake the checkpointer")
	}
	c.checkpoint(db)
	if got := db.CheckpointStats().Finishes; got != 1 {
		t.Errorf("%d finishes with hearth.db's WAL past finishPages, want 1", got)
	}
	insert(1)
	if log, _ := c.run(db, c.files[1]); log >= 100 {
		t.Errorf("hearth.db's WAL of %d frames after one small write following the finished checkpoint: it did not start over", log)
	}
	if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM hearth.blobs").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
}

// insertBlobs adds n rows of 4,000 bytes (about a page each) to table,
// which it creates when missing, in one write.
func insertBlobs(t *testing.T, db *DB, table string, n int) {
	t.Helper()
	ctx := context.Background()
	if err := db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (b BLOB NOT NULL)"); err != nil {
			return err
		}
		for range n {
			if _, err := q.ExecContext(ctx, "INSERT INTO "+table+" (b) VALUES (?)", make([]byte, 4000)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// haltedCheckpointer opens a database with o and stops its checkpointer's
// goroutine, so that a test runs the checkpoints itself; it skips in a
// browser VFS, which runs on one connection without a checkpointer.
func haltedCheckpointer(t *testing.T, o Options) (*DB, *checkpointer) {
	t.Helper()
	if testVFS != "" {
		t.Skip("a browser VFS: single-connection mode")
	}
	db := mustOpenWith(t, o)
	db.ckpt.halt()
	return db, db.ckpt
}
