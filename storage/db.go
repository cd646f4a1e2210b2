// Package storage is hearth's one implementation of core's storage
// interfaces: SQLite through github.com/ncruces/go-sqlite3's database/sql
// driver (pure Go, no cgo, builds for js/wasm).
//
// A DB owns one writer connection, driven by one goroutine that groups the
// writes arriving together into one transaction (group commit), and a small
// pool of read-only connections (WAL lets readers run beside the writer).
// Where file locking is unavailable (js/wasm without the sqlite3_dotlk build
// tag, or a browser VFS), everything shares one connection in exclusive
// locking mode.
//
// Importing the package registers the "sqlite3" database/sql driver and,
// through sqlite3.AutoExtension (search.go), SQLite's FTS5 on every
// connection.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/core"
)

// Queryer is what storage code runs SQL on: a pinned connection inside a
// write transaction, or a read transaction. *sql.Conn and *sql.Tx satisfy it.
type Queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Queryer = (*sql.Conn)(nil)
	_ Queryer = (*sql.Tx)(nil)
)

// Options say where the database lives and how it is opened.
type Options struct {
	// Path is the main database file (holds the logical database "main",
	// and "state" too unless StatePath is set).
	Path string
	// StatePath, when set, puts the logical database "state" in its own file.
	StatePath string
	// SynchronousFull selects synchronous=FULL instead of NORMAL. Under WAL,
	// NORMAL already survives a crash of the process (kill -9); FULL also
	// survives power loss.
	SynchronousFull bool
	// VFS names a registered SQLite VFS (e.g. the browser's OPFS VFS). Empty
	// uses the default, the operating system's files.
	VFS string
	// Readers is the size of the read pool (native hosts only). 0 picks a
	// default.
	Readers int
	// Logger receives background update progress and migration notes. Nil
	// uses slog.Default().
	Logger *slog.Logger
	// CacheBudget bounds the memory of the caches storage keeps (the
	// states of state groups, the auth chain index): their shares of it.
	// Zero uses core.DefaultCacheBudget.
	CacheBudget core.CacheBudget
	// Image, when set, is a schema image (SchemaImage, made by the build)
	// that a new database starts from instead of running the full schema
	// and every delta one statement at a time; the migrator then brings it
	// forward as any database. It is used for a new one-file database only
	// (no StatePath); bytes that are not a SQLite database are ignored
	// with a warning.
	Image []byte
	// StreamAdvanced, when set, is called by the writer after each commit
	// in which a stream advanced (a new live event, receipt, account data,
	// to-device message, device list change or presence): the one place
	// /sync is woken from (core.Notifier.Notify). It runs on the writer
	// goroutine and must return quickly.
	StreamAdvanced func()
}

// DB is an open hearth database.
type DB struct {
	opts   Options
	log    *slog.Logger
	writer *sql.DB // exactly one connection
	reader *sql.DB // read-only pool; the writer itself when single is true
	single bool

	writes chan *writeReq
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
	// closeMu orders Write's queueing against Close: no write is queued
	// after the writer has been told to stop.
	closeMu  sync.RWMutex
	isClosed bool

	// maxBatch bounds how many queued writes share one transaction.
	maxBatch int
	// chains caches the auth chain index's immutable answers.
	chains chainCache
	// batches counts the writer's transactions by size (writerstats.go).
	batches batchCounts
	// times adds up the writer's time (writerstats.go).
	times writerTimes
	// ckpt checkpoints the WAL beside the writer (nil in single-connection
	// mode, where SQLite checkpoints in the writer's commits).
	ckpt *checkpointer

	// wconn is the writer's pinned connection (nil in single-connection
	// mode, where reads need the one connection between writes), and
	// stmts its prepared statements by SQL text. Only the writer goroutine
	// touches them.
	wconn *sql.Conn
	stmts map[string]*sql.Stmt
	// wanted are statements the writer ran unprepared in its last batch,
	// to prepare on the DB after it (single-connection mode).
	wanted map[string]bool
	// keys are stream ids and room keys the writer remembers
	// (writerkeys.go); only the writer goroutine touches them.
	keys writerKeys

	// reads keeps single-statement reads prepared on the read pool.
	reads readStmts
	// txReads keeps Read's statements prepared (readprepared.go).
	txReads readTxStmts
	// scopeSlots bounds the read pool's connections that read scopes
	// hold together (readscope.go); its capacity is 0 on one connection.
	scopeSlots chan struct{}
	// readTxs counts read transactions begun on the read pool: Read's,
	// Cached's single statements outside a scope, and read scopes'.
	readTxs atomic.Uint64

	// search schedules the full-text index's batches (searchindex.go).
	search searchIndex
	// sentReads are the read positions known to cover every
	// notification (notification_sent.go).
	sentReads sentReads

	// positions are the streams' positions as of the latest commit
	// (streampositions.go).
	positions streamPositions

	// members keeps local users' room lists, which the writer keeps up
	// to date (membershipcache.go).
	members membershipCache
	// outbound moves with every commit that may give the federation
	// sender work (federationqueue_idle.go).
	outbound atomic.Uint64

	// mainSchema is the schema name of hearth.db on the connections:
	// "main", or "hearth" when the state file is the primary. Tables that
	// every file has (background_updates) are named through it.
	mainSchema string
	// exportMu lets one Export at a time use the temporary copy's name.
	exportMu sync.Mutex
}

// singleConnection reports whether this build and VFS must run everything
// on one connection: without file locking, SQLite needs nolock=1 and
// EXCLUSIVE locking mode (ncruces vfs README, "File Locking" and
// "Write-Ahead Logging"); a custom browser VFS is exclusive by nature.
func singleConnection(vfsName string) bool {
	return !vfs.SupportsFileLocking || vfsName != ""
}

// dsn builds the data source name for path.
func dsn(path string, o Options, readOnly bool) string {
	return dsnWith(path, o, readOnly, !readOnly)
}

// dsnWith builds the data source name for path; journal sets the journal
// mode and synchronous level in it (which writes to the file), else they
// are left for journalPragmas.
func dsnWith(path string, o Options, readOnly, journal bool) string {
	q := url.Values{}
	q.Set("vfs", fileVFS(o))
	single := singleConnection(o.VFS)
	if single && o.VFS == "" {
		// js/wasm without the sqlite3_dotlk tag: no file locks at all.
		q.Set("nolock", "1")
	}
	if readOnly {
		q.Set("mode", "ro")
	}
	var pragmas []string
	pragmas = append(pragmas, "busy_timeout(10000)")
	if single {
		pragmas = append(pragmas, "locking_mode(exclusive)")
	}
	if journal {
		pragmas = append(pragmas, "journal_mode(wal)", "synchronous("+synchronousLevel(o)+")")
	}
	pragmas = append(pragmas, "foreign_keys(1)")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + escapePath(path) + "?" + q.Encode()
}

func synchronousLevel(o Options) string {
	if o.SynchronousFull {
		return "full"
	}
	return "normal"
}

// journalPragmas sets what dsn's journal pragmas set, on a connection
// opened without them.
func journalPragmas(o Options) string {
	return "PRAGMA journal_mode=wal; PRAGMA synchronous=" + synchronousLevel(o)
}

// escapePath makes a file path safe inside a file: URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Open opens (creating if needed) the database described by o, refuses a
// foreign, corrupt or too-new file without modifying it, brings the schema
// forward with the tree's deltas, and starts the writer.
func Open(ctx context.Context, o Options) (*DB, error) {
	return openWith(ctx, o, Schema())
}

// cacheBudget is the budget of storage's caches.
func (db *DB) cacheBudget() core.CacheBudget {
	return db.opts.CacheBudget.Or(core.DefaultCacheBudget)
}

func openWith(ctx context.Context, o Options, tree *SchemaTree) (*DB, error) {
	if o.Path == "" {
		return nil, errors.New("storage: no database path")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	db := &DB{opts: o, log: log, closed: make(chan struct{}), maxBatch: 128, mainSchema: "main"}
	db.opts.Image = nil // needed only by the migrator, below
	db.chains.maxBytes = db.cacheBudget().AuthChains()
	db.single = singleConnection(o.VFS)
	if db.single && o.StatePath == "" {
		w, err := openOne(ctx, o, tree, log)
		if err != nil {
			return nil, err
		}
		db.writer, db.reader = w, w
		db.stmts = map[string]*sql.Stmt{}
		if err := db.positions.load(ctx, w, db.mainSchema); err != nil {
			db.Close()
			return nil, err
		}
		db.start()
		return db, nil
	}
	files := physicalFiles(o)
	for _, f := range files {
		if err := probe(ctx, f.path, o, tree); err != nil {
			return nil, err
		}
	}

	// Migrate each physical file on a connection of its own, so a file's
	// tables are created in that file.
	for _, f := range files {
		if err := migrateFile(ctx, f.path, o, tree, f.logical, log); err != nil {
			return nil, err
		}
	}

	// With two files, SQLite commits a transaction that writes both one
	// file after the other, the connection's primary file first, and a
	// crash in between keeps one half (WAL gives no atomic commit across
	// files). So the state file is the primary and hearth.db is attached
	// as "hearth": state groups are committed before the events that name
	// them, and a crash leaves at worst groups that nothing names, which
	// dropOrphanStateGroups removes below, never an event naming a group
	// that is not there (whose ID the next group would take again).
	primary := o.Path
	var attach func(*sqlite3.Conn) error
	if o.StatePath != "" {
		primary = o.StatePath
		db.mainSchema = "hearth"
		sync := "NORMAL"
		if o.SynchronousFull {
			sync = "FULL"
		}
		attach = func(c *sqlite3.Conn) error {
			if err := c.Exec("ATTACH DATABASE " + quoteLiteral("file:"+escapePath(o.Path)+attachQuery(o)) + " AS hearth"); err != nil {
				return err
			}
			return c.Exec("PRAGMA hearth.synchronous = " + sync)
		}
	}
	writerInit := attach
	var ckpt *checkpointer
	if !db.single {
		// Checkpoints run beside the writer (checkpoint.go): its
		// connection reports the WAL's size after each commit instead.
		if attach != nil {
			ckpt = newCheckpointer("main", db.mainSchema)
		} else {
			ckpt = newCheckpointer("main")
		}
		writerInit = func(c *sqlite3.Conn) error {
			if attach != nil {
				if err := attach(c); err != nil {
					return err
				}
			}
			c.WALHook(ckpt.walHook)
			return nil
		}
	}
	w, err := openSQL(dsn(primary, o, false), writerInit)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("storage: open %s: %w", o.Path, err)
	}
	db.writer = w
	if !db.single {
		// The writer's one connection is pinned for the database's life,
		// so its prepared statements stay compiled between transactions.
		if db.wconn, err = w.Conn(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("storage: open %s: %w", o.Path, err)
		}
	}
	db.stmts = map[string]*sql.Stmt{}
	if db.single {
		db.reader = w
	} else {
		n := o.Readers
		if n <= 0 {
			// Read scopes (readscope.go) keep a connection for a
			// request's reads: four leave three for them and one for
			// every other read even on two cores.
			n = max(4, min(6, runtime.GOMAXPROCS(0)))
		}
		readOnly := func(c *sqlite3.Conn) error {
			if attach != nil {
				if err := attach(c); err != nil {
					return err
				}
			}
			return c.Exec("PRAGMA query_only=1")
		}
		r, err := openSQL(dsn(primary, o, false), readOnly)
		if err != nil {
			w.Close()
			return nil, err
		}
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		db.reader = r
		db.scopeSlots = make(chan struct{}, n-1)
		if err := ckpt.start(db, dsn(primary, o, false), attach); err != nil {
			r.Close()
			w.Close()
			return nil, err
		}
		db.ckpt = ckpt
	}
	// Before the writer starts: no commit can come between.
	if err := db.positions.load(ctx, db.reader, db.mainSchema); err != nil {
		db.Close()
		return nil, err
	}
	db.start()
	if o.StatePath != "" {
		if err := db.dropOrphanStateGroups(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// start starts the writer on the connections set up by openWith.
func (db *DB) start() {
	db.reads.db = db.reader
	db.txReads.db = db.reader
	db.writes = make(chan *writeReq, 1024)
	db.wg.Add(1)
	go db.writeLoop()
	db.startSearchIndex()
}

func openSQL(dsn string, init func(*sqlite3.Conn) error) (*sql.DB, error) {
	return driver.Open(dsn, func(c *sqlite3.Conn) error {
		// A query plan chosen once stays: without this, SQLite (built with
		// STAT4) compiles many statements a second time at their first bind.
		if _, err := c.Config(sqlite3.DBCONFIG_ENABLE_QPSG, true); err != nil {
			return err
		}
		if init != nil {
			return init(c)
		}
		return nil
	})
}

// attachQuery repeats the VFS choice for an attached file.
func attachQuery(o Options) string {
	q := url.Values{}
	q.Set("vfs", fileVFS(o))
	if singleConnection(o.VFS) && o.VFS == "" {
		q.Set("nolock", "1")
	}
	return "?" + q.Encode()
}

// fileVFS is the VFS of o's files: o.VFS, or natively the operating
// system's files with a WAL's frames written once per commit (walVFS).
func fileVFS(o Options) string {
	switch {
	case o.VFS != "":
		return o.VFS
	case singleConnection(""):
		return "os"
	}
	return walVFSName
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Close stops the writer (after it finishes the writes already queued) and
// closes every connection.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.closeMu.Lock()
		db.isClosed = true
		close(db.closed)
		db.closeMu.Unlock()
		db.wg.Wait()
		if db.ckpt != nil {
			err = db.ckpt.close()
		}
		db.dropStmts()
		if db.wconn != nil {
			db.wconn.Close()
		}
		if db.reader != db.writer {
			if e := db.reader.Close(); e != nil && err == nil {
				err = e
			}
		}
		if e := db.writer.Close(); e != nil && err == nil {
			err = e
		}
		waitConnsClosed(db.reader, db.writer)
	})
	return err
}

// closeWait bounds how long Close waits for connections still in use.
const closeWait = 10 * time.Second

// waitConnsClosed waits until the pools' last connections are closed.
// sql.DB.Close does not wait for a connection still in use: a transaction
// whose context was cancelled is rolled back in a goroutine of
// database/sql, which closes its connection — and SQLite checkpoints the
// WAL, holding the file's locks — only when it gives it back, possibly
// after Close returned. Whoever opens the file next (an embedding app
// reopening it, `hearth db` after a test's server) would find it locked.
func waitConnsClosed(pools ...*sql.DB) {
	deadline := time.Now().Add(closeWait)
	for _, p := range pools {
		for p.Stats().OpenConnections > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

// Read runs fn inside one read transaction, so everything it reads comes
// from one snapshot of the database.
//
// Given a context carrying a read scope of db (ReadScope), fn runs in the
// scope's transaction, which earlier and later reads of the request share.
func (db *DB) Read(ctx context.Context, fn func(q Queryer) error) error {
	if s := db.scopeOf(ctx); s != nil {
		tx, err := s.enter(ctx, false)
		if err != nil {
			return fmt.Errorf("storage: begin read: %w", err)
		}
		if tx != nil {
			r := &preparedRead{tx: tx, stmts: &db.txReads}
			defer func() { s.leave(r.wanted, true) }()
			return fn(r)
		}
	}
	db.readTxs.Add(1)
	tx, err := db.reader.BeginTx(ctx, db.readTx())
	if err != nil {
		return fmt.Errorf("storage: begin read: %w", err)
	}
	defer tx.Rollback()
	r := &preparedRead{tx: tx, stmts: &db.txReads}
	if err := fn(r); err != nil {
		return err
	}
	err = tx.Commit()
	if len(r.wanted) > 0 {
		db.txReads.prepare(ctx, r.wanted)
	}
	return err
}

// readTx is how Read begins its transactions: read-only on the read pool.
// On a single connection, the read-only transaction's PRAGMA query_only
// (set at BEGIN, reset at COMMIT) would expire every statement prepared
// on the connection, as any change of a flag pragma does, so each read
// would cost every cached statement (the writer's too) a compile at its
// next use; there a read is an ordinary transaction, and the native
// hosts' read-only pool keeps the guard.
func (db *DB) readTx() *sql.TxOptions {
	if db.single {
		return &sql.TxOptions{}
	}
	return &sql.TxOptions{ReadOnly: true}
}

// Reader is the read pool, for single statements that need no snapshot.
func (db *DB) Reader() *sql.DB { return db.reader }

// Cached runs single read statements that need no snapshot, from
// statements kept prepared on the read pool: compiling a statement is a
// large part of a small read's cost with this SQLite build. It must not be
// used inside Write's function (with one connection, preparing would wait
// for the writer). Given a context carrying a read scope of db, the
// statement runs in the scope's transaction. After a QueryContext there,
// the transaction is no longer renewed for its age or the WAL's size
// (readScope.rowsMayBeOpen: ending it would cut the rows, which may be
// read while the request makes other reads); it still ends when the
// request writes, releases the scope (core.ReleaseReads) or ends, and that
// cuts rows still open: read them before (goroutines of one request that
// read beside one another take the scope off their contexts).
// QueryRowContext's row is to be scanned at once.
func (db *DB) Cached() Queryer { return cachedReader{db} }

type cachedReader struct{ db *DB }

func (c cachedReader) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.db.reader.ExecContext(ctx, q, args...)
}

func (c cachedReader) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st := c.db.reads.get(ctx, q)
	if tx, s := c.scoped(ctx, true); tx != nil {
		defer s.leave(nil, false)
		if st != nil {
			return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
		return tx.QueryContext(ctx, q, args...)
	}
	c.db.readTxs.Add(1)
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.reader.QueryContext(ctx, q, args...)
}

func (c cachedReader) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st := c.db.reads.get(ctx, q)
	if tx, s := c.scoped(ctx, false); tx != nil {
		defer s.leave(nil, false)
		if st != nil {
			return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
		}
		return tx.QueryRowContext(ctx, q, args...)
	}
	c.db.readTxs.Add(1)
	if st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.reader.QueryRowContext(ctx, q, args...)
}

// scoped returns the transaction of ctx's read scope for one statement,
// or nil (no scope; the WAL is too large for a transaction kept beyond the
// statement (walPressed); or the statement runs on its own: an error
// beginning the scope's transaction shows again there).
func (c cachedReader) scoped(ctx context.Context, rows bool) (*sql.Tx, *readScope) {
	s := c.db.scopeOf(ctx)
	if s == nil || c.db.walPressed() {
		return nil, nil
	}
	tx, err := s.enter(ctx, rows)
	if err != nil || tx == nil {
		return nil, nil
	}
	return tx, s
}

// ReadTransactions returns how many read transactions the read pool has
// begun: Read's, single statements' outside a read scope, and read
// scopes'.
func (db *DB) ReadTransactions() uint64 { return db.readTxs.Load() }

// Path is the main database file.
func (db *DB) Path() string { return db.opts.Path }
