package storage

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// maxScopeAge bounds how long a read scope keeps one transaction: a read
// that finds the scope's transaction older (and no read running in it)
// ends it and begins a new one. A transaction pins the WAL frames it can
// see, so the checkpointer cannot copy past it while it lasts.
const maxScopeAge = 100 * time.Millisecond

// readScope is a request's read scope (core.ReadScopes): Read and Cached,
// given a context carrying it, run in its one read transaction, begun at
// the first read and kept on a connection of the read pool until the
// request releases it (core.ReleaseReads), writes (Write releases it),
// ends, or the transaction is older than maxScopeAge.
//
// Under WAL, SQLite empties a connection's page cache at the start of each
// read transaction when any other connection committed since its last one
// (the soak commits hundreds of times a second), so each read transaction
// reads its B-tree pages again through the VFS: one transaction per request
// instead of one per read saves those reads and the WAL's lock calls.
//
// Scopes hold at most scopeSlots connections together (one fewer than the
// pool): a read that finds none free runs on its own as without a scope,
// so a request holding a scope while it waits for something (a lock, the
// network) never keeps another request from reading.
type readScope struct {
	db *DB

	mu     sync.Mutex
	conn   *sql.Conn
	tx     *sql.Tx
	cancel context.CancelFunc
	began  time.Time
	// active counts the reads running in tx.
	active int
	// closing: tx ends when the last running read is done; no read joins
	// it any more.
	closing bool
	// beginning: a read is beginning tx outside s.mu (enter).
	beginning bool
	// rowsMayBeOpen: a Cached QueryContext ran in tx, and its *sql.Rows
	// (which storage cannot see closed) may still be being read: ending
	// tx would cut them (database/sql's Rollback closes them with
	// "context canceled"), so neither the age nor the WAL's size ends tx
	// until the request releases the scope, writes or ends.
	rowsMayBeOpen bool
	// done: the request ended; no read joins the scope any more.
	done bool
	// wanted are statements run unprepared in tx, prepared once it ended
	// (readprepared.go).
	wanted []string
	// pos are the stream positions published before tx began (or is
	// being begun): all of them are in its snapshot (streampositions.go).
	pos *positionMap
}

var _ core.ReadScopes = (*DB)(nil)

// ReadScope implements core.ReadScopes. On one connection (the browser)
// the scope does nothing: a read transaction kept open there would keep
// the writer out.
func (db *DB) ReadScope(ctx context.Context) (context.Context, func()) {
	if db.single || cap(db.scopeSlots) == 0 {
		return ctx, func() {}
	}
	s := &readScope{db: db}
	return core.WithReadScope(ctx, s), s.end
}

// walPressed reports whether the WAL is past the size from which its
// checkpoints are finished inside a write: then a scope's transaction ends
// with each read, as without a scope, so that no snapshot held between a
// request's reads keeps the finish from reaching the WAL's end (which it
// needs for the WAL to start over: in the mixed load, scopes kept across
// reads whatever the WAL's size let it grow past 150 MB in two minutes).
func (db *DB) walPressed() bool { return db.ckpt != nil && db.ckpt.pressed() }

// scopeOf returns the read scope of db that ctx carries, or nil.
func (db *DB) scopeOf(ctx context.Context) *readScope {
	s, _ := core.ReadScopeOf(ctx).(*readScope)
	if s == nil || s.db != db {
		return nil
	}
	return s
}

// releaseScope ends the transaction of ctx's read scope, if any.
func (db *DB) releaseScope(ctx context.Context) {
	if s := db.scopeOf(ctx); s != nil {
		s.Release()
	}
}

// enter returns the scope's transaction for one read, begun if needed,
// and counts the read as running in it (leave ends that). It returns nil
// when the read must run on its own: the request ended, every scope slot
// is taken, the transaction is released but still has reads running, or
// another read of the request is beginning it. rows says the read is a
// Cached QueryContext, whose rows outlive the call (rowsMayBeOpen).
//
// Preparing statements, waiting for a pool connection and BEGIN run
// without s.mu held, so the request's other goroutines (and Release) do
// not wait behind them.
func (s *readScope) enter(ctx context.Context, rows bool) (*sql.Tx, error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil, nil
	}
	var prep []string
	if s.tx != nil && s.active == 0 && (s.closing || s.renewDue()) {
		prep = s.endTx()
	}
	if s.tx != nil && !s.closing {
		s.active++
		s.rowsMayBeOpen = s.rowsMayBeOpen || rows
		s.mu.Unlock()
		return s.tx, nil
	}
	if s.tx != nil || s.beginning {
		// Released with reads still running in it (a read joining it
		// would not see the request's write), or being begun: this read
		// runs on its own.
		s.mu.Unlock()
		return nil, nil
	}
	select {
	case s.db.scopeSlots <- struct{}{}:
	default:
		s.mu.Unlock()
		if len(prep) > 0 {
			s.db.txReads.prepare(ctx, prep)
		}
		return nil, nil
	}
	s.beginning = true
	// Taken before BEGIN, so the snapshot covers every position here.
	s.pos = s.db.positions.cur.Load()
	s.mu.Unlock()

	if len(prep) > 0 {
		// The connection went back to the pool: prepare on it what the
		// last transaction ran unprepared.
		s.db.txReads.prepare(ctx, prep)
	}
	conn, tx, cancel, err := s.db.beginScopeTx(ctx)

	s.mu.Lock()
	s.beginning = false
	if err != nil {
		<-s.db.scopeSlots
		s.closing = false // a Release meanwhile found nothing to end
		s.mu.Unlock()
		return nil, err
	}
	s.conn, s.tx, s.cancel, s.began = conn, tx, cancel, time.Now()
	s.db.readTxs.Add(1)
	if s.done {
		// The request ended meanwhile: nothing but this read will end
		// the transaction.
		prep = s.endTx()
		s.mu.Unlock()
		if len(prep) > 0 {
			s.db.txReads.prepare(context.Background(), prep)
		}
		return nil, nil
	}
	// A Release meanwhile (closing) needs nothing more: no statement has
	// run in tx yet, so its snapshot is taken after the release, and
	// leave ends tx once this read is done.
	s.active++
	s.rowsMayBeOpen = s.rowsMayBeOpen || rows
	s.mu.Unlock()
	return tx, nil
}

// beginScopeTx takes a connection of the read pool and begins a read
// transaction on it for a scope. The transaction lives as long as the
// scope, not as the context of the read that began it (a read's context
// may be cancelled once that read is done).
func (db *DB) beginScopeTx(ctx context.Context) (*sql.Conn, *sql.Tx, context.CancelFunc, error) {
	conn, err := db.reader.Conn(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(tctx, db.readTx())
	if err != nil {
		cancel()
		conn.Close()
		return nil, nil, nil, err
	}
	return conn, tx, cancel, nil
}

// renewDue reports whether tx should end before the next read, for its age
// or the WAL's size, and may: no Cached rows of it may be open. s.mu is
// held.
func (s *readScope) renewDue() bool {
	return !s.rowsMayBeOpen && (time.Since(s.began) > maxScopeAge || s.db.walPressed())
}

// leave ends one read that enter let in; wanted are the statements it ran
// unprepared. done says the read is over (Read's); a single statement's
// rows are still to be read (Cached's), so its transaction is not ended
// for the WAL's size here.
func (s *readScope) leave(wanted []string, done bool) {
	s.mu.Lock()
	s.active--
	s.wanted = append(s.wanted, wanted...)
	var prep []string
	if s.active == 0 && (s.closing || s.done || done && !s.rowsMayBeOpen && s.db.walPressed()) {
		prep = s.endTx()
	}
	s.mu.Unlock()
	if len(prep) > 0 {
		s.db.txReads.prepare(context.Background(), prep)
	}
}

// Release implements core.ReadScope: the transaction ends now, or once the
// reads running in it are done; the next read begins a new one.
func (s *readScope) Release() {
	s.mu.Lock()
	var prep []string
	switch {
	case s.tx != nil && s.active == 0:
		prep = s.endTx()
	case s.tx != nil || s.beginning:
		s.closing = true
	}
	s.mu.Unlock()
	if len(prep) > 0 {
		s.db.txReads.prepare(context.Background(), prep)
	}
}

// end ends the scope (the request is done).
func (s *readScope) end() {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	s.Release()
}

// endTx ends the transaction and gives its connection and slot back; it
// returns the statements to prepare now. s.mu is held.
func (s *readScope) endTx() []string {
	// A read-only transaction has nothing to keep: rolling back ends it.
	s.tx.Rollback()
	s.cancel()
	s.conn.Close()
	<-s.db.scopeSlots
	s.conn, s.tx, s.cancel = nil, nil, nil
	s.closing, s.rowsMayBeOpen = false, false
	w := s.wanted
	s.wanted = nil
	return w
}

// positions returns the stream positions a read in the scope may use when
// the scope's transaction has begun (or is being begun), else nil: then a
// read joining the scope begins a transaction after any position taken
// now.
func (s *readScope) positions() *positionMap {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx != nil || s.beginning {
		return s.pos
	}
	return nil
}

// ReadScopeTransactions returns how many read transactions read scopes
// hold now.
func (db *DB) ReadScopeTransactions() int { return len(db.scopeSlots) }
