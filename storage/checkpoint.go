package storage

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// checkpointPages is the size of the WAL, in pages, from which the writer
// asks for a checkpoint after a commit: SQLite's default for its automatic
// checkpoints (PRAGMA wal_autocheckpoint), about 4 MB.
const checkpointPages = 1000

// checkpointBatch is how many pages the WAL must hold beyond what the last
// checkpoint copied before the writer asks for another: each checkpoint
// syncs both files, and waking one after every commit past the mark synced
// them 20 times a second in the mixed load.
const checkpointBatch = checkpointPages / 4

// finishPages is the size of the WAL from which a checkpoint beside the
// writer is finished while the writer waits (see checkpointer).
const finishPages = 4 * checkpointPages

// checkpointer copies the WAL into the database file (a checkpoint) on a
// connection and goroutine of its own, on the native read pool's hosts.
//
// Left to SQLite, a checkpoint runs inside the COMMIT of the write that
// took the WAL past 1,000 pages, on the one writer: it syncs the WAL,
// copies its pages into the database file and syncs that, while every
// write queued behind it waits. And while readers keep using older
// snapshots the WAL cannot start over, stays above the mark, and every
// commit checkpoints again: in the mixed load (make soak) COMMIT held the
// writer half of its busy time. Here the writer's connection has a WAL
// hook instead of the automatic checkpoint (setting one replaces the
// other); past the mark, the hook wakes the checkpointer, which runs a
// PASSIVE checkpoint (it never waits for a lock nor blocks the writer or
// the readers).
//
// The WAL starts over at the first write after a checkpoint that reached
// its end (when no reader still uses an older snapshot). Beside a busy
// writer a checkpoint rarely reaches the end: the writer has committed more
// while it ran, and the WAL grew to 30 MB in six minutes of the mixed
// load. So once the WAL is past finishPages, the checkpointer copies the
// rest inside a write of its own, while the writer waits: that part is
// short, the bulk was copied beside the writer. A commit stays as durable
// as before:
// under synchronous=NORMAL the WAL is synced at checkpoints, under FULL at
// every commit, and a checkpoint is the same work on either connection.
//
// In single-connection mode (the browser) there is no second connection
// and SQLite's automatic checkpoints stay.
type checkpointer struct {
	db   *sql.DB // one connection
	wake chan struct{}
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	// failed is logged once.
	failed atomic.Bool
	// files are the databases with a WAL on the writer's connection:
	// "main", and "hearth" when the events' file is attached to the
	// state's (Options.StatePath). Each is checkpointed and counted on
	// its own: SQLite's figures for a checkpoint of every database are the
	// first one's alone.
	files []*walState

	runs     atomic.Uint64
	finishes atomic.Uint64 // runs inside a write (finish)
	frames   atomic.Uint64 // WAL frames copied into the database
	nanos    atomic.Int64
}

// walState is one database's WAL as the checkpointer sees it.
type walState struct {
	schema string
	// backfilled is how many frames of the current WAL the last
	// checkpoint had copied.
	backfilled atomic.Int64
	// pages is the WAL's size after the writer's last commit.
	pages atomic.Int64
	// finishAt is the WAL's size from which a checkpoint is finished
	// inside a write: finishPages, or further once a finish could not
	// reach the end (a reader kept an older snapshot), so the writer does
	// not wait for one after every checkpointBatch pages (checkpoint loop
	// only).
	finishAt int
}

// walHook is the writer connection's WAL hook: after each commit, with the
// WAL's size in pages, it wakes the checkpointer once the WAL is past the
// mark and holds checkpointBatch pages not yet copied. It runs inside the
// commit and only signals.
func (c *checkpointer) walHook(_ *sqlite3.Conn, schema string, pages int) error {
	f := c.file(schema)
	if f == nil {
		return nil
	}
	f.pages.Store(int64(pages))
	done := f.backfilled.Load()
	if int64(pages) < done {
		// The WAL started over.
		f.backfilled.Store(0)
		done = 0
	}
	if pages >= checkpointPages && int64(pages)-done >= checkpointBatch {
		select {
		case c.wake <- struct{}{}:
		default: // already woken
		}
	}
	return nil
}

// pressed reports whether a WAL is past finishPages: its checkpoints do
// not reach its end, so that it cannot start over, while readers keep
// older snapshots. Read scopes then keep no transaction between reads.
func (c *checkpointer) pressed() bool {
	for _, f := range c.files {
		if f.pages.Load() >= finishPages {
			return true
		}
	}
	return false
}

func (c *checkpointer) file(schema string) *walState {
	for _, f := range c.files {
		if f.schema == schema {
			return f
		}
	}
	return nil
}

// newCheckpointer makes the checkpointer of the writer's databases
// (schema names).
func newCheckpointer(schemas ...string) *checkpointer {
	c := &checkpointer{wake: make(chan struct{}, 1), stop: make(chan struct{})}
	for _, name := range schemas {
		c.files = append(c.files, &walState{schema: name, finishAt: finishPages})
	}
	return c
}

// start opens the checkpointer's connection on the database behind dsn
// (attach, when set, attaches the other file) and starts its goroutine.
func (c *checkpointer) start(db *DB, dsn string, attach func(*sqlite3.Conn) error) error {
	cdb, err := openSQL(dsn, attach)
	if err != nil {
		return err
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	cdb.SetConnMaxLifetime(0)
	cdb.SetConnMaxIdleTime(0)
	c.db = cdb
	c.wg.Add(1)
	go db.checkpointLoop(c)
	return nil
}

func (db *DB) checkpointLoop(c *checkpointer) {
	defer c.wg.Done()
	for {
		select {
		case <-c.wake:
			c.checkpoint(db)
		case <-c.stop:
			return
		}
	}
}

// checkpoint checkpoints each database's WAL beside the writer, and
// finishes one that is past its finishAt inside a write.
func (c *checkpointer) checkpoint(db *DB) {
	for _, f := range c.files {
		if log, _ := c.run(db, f); log >= f.finishAt {
			c.finish(db, f)
		} else if log < finishPages {
			f.finishAt = finishPages
		}
	}
}

// finish copies the rest of f's WAL while the writer waits: inside a write
// no commit adds to the WAL, so the checkpoint reaches its end unless a
// reader still uses an older snapshot, and the writer's next write can
// start the WAL over. When it could not reach the end, the next finish
// waits until the WAL grew by finishPages more.
func (c *checkpointer) finish(db *DB, f *walState) {
	var log, done int
	err := db.Write(context.Background(), func(q Queryer) error {
		noteOutboundIdle(q) // it writes nothing
		log, done = c.run(db, f)
		c.finishes.Add(1)
		return nil
	})
	if err == nil && log > 0 && done < log {
		f.finishAt = log + finishPages
	} else {
		f.finishAt = finishPages
	}
}

// run runs one PASSIVE checkpoint of f: it copies what it can into the
// database file, up to the oldest snapshot a reader still uses. It
// returns the WAL's size in frames and how many of them the database file
// now holds (0, 0 after an error).
func (c *checkpointer) run(db *DB, f *walState) (log, done int) {
	start := time.Now()
	var busy int
	err := c.db.QueryRowContext(context.Background(), "PRAGMA "+f.schema+".wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	c.nanos.Add(int64(time.Since(start)))
	c.runs.Add(1)
	if err != nil {
		if !c.failed.Swap(true) {
			db.log.Warn("storage: WAL checkpoint failed; retried after the next commits", "err", err)
		}
		return 0, 0
	}
	if prev := f.backfilled.Swap(int64(done)); int64(done) >= prev {
		c.frames.Add(uint64(int64(done) - prev))
	} else {
		c.frames.Add(uint64(done)) // a new WAL
	}
	return log, done
}

// halt stops the checkpointer's goroutine; a checkpoint in progress
// finishes first.
func (c *checkpointer) halt() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.halt()
	return c.db.Close()
}

// CheckpointStats are the checkpointer's figures since the database
// opened: how many checkpoints ran, the time they took, and the WAL frames
// (pages) they copied into the database file. All zero where SQLite
// checkpoints inside the writer's commits (the browser).
type CheckpointStats struct {
	Runs uint64
	// Finishes is how many of the runs copied the rest of a WAL past
	// finishPages inside a write, while the writer waited.
	Finishes uint64
	Time     time.Duration
	Frames   uint64
}

// CheckpointStats returns the checkpointer's figures.
func (db *DB) CheckpointStats() CheckpointStats {
	c := db.ckpt
	if c == nil {
		return CheckpointStats{}
	}
	return CheckpointStats{Runs: c.runs.Load(), Finishes: c.finishes.Load(), Time: time.Duration(c.nanos.Load()), Frames: c.frames.Load()}
}
