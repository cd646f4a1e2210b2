package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrClosed is returned for writes submitted after Close.
var ErrClosed = errors.New("storage: database closed")

// writeReq is one caller's write, waiting for the writer goroutine.
type writeReq struct {
	ctx  context.Context
	fn   func(q Queryer) error
	done chan error
}

// Write runs fn on the single writer connection inside a transaction and
// returns once that transaction is committed (or fn's changes are rolled
// back). Writes that arrive while another is in progress are grouped into
// one transaction; each runs inside its own savepoint, so one failing fn
// rolls back only its own changes. fn must do all its work through q and
// must not call Read or Write itself.
//
// A nil error means the changes are committed: with WAL they survive a
// crash of the process (synchronous=NORMAL) or of the machine
// (synchronous=FULL).
func (db *DB) Write(ctx context.Context, fn func(q Queryer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The request's later reads must see this write (readscope.go).
	db.releaseScope(ctx)
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.closeMu.RLock()
	if db.isClosed {
		db.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case db.writes <- req:
		db.closeMu.RUnlock()
	case <-ctx.Done():
		db.closeMu.RUnlock()
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// learn whether its write was committed.
	return <-req.done
}

// writeLoop is the one goroutine that writes.
func (db *DB) writeLoop() {
	defer db.wg.Done()
	batch := make([]*writeReq, 0, db.maxBatch)
	for {
		select {
		case req := <-db.writes:
			batch = append(batch[:0], req)
		case <-db.closed:
			// Finish what is queued, then stop.
			for {
				select {
				case req := <-db.writes:
					db.commitBatch([]*writeReq{req})
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < db.maxBatch {
			select {
			case req := <-db.writes:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		db.commitBatch(batch)
	}
}

// commitBatch runs every request of batch in one transaction.
func (db *DB) commitBatch(batch []*writeReq) {
	ctx := context.Background()
	start := time.Now()
	results := make([]error, len(batch))
	finish := func(err error) {
		// Counted before the writers return, so that a caller reading
		// WriterStats after its write finds it there.
		db.batches.record(len(batch))
		db.times.busy.Add(int64(time.Since(start)))
		for i, r := range batch {
			if err != nil && results[i] == nil {
				results[i] = err
			}
			r.done <- results[i]
		}
	}
	var conn Queryer = db.wconn
	var tx *sql.Tx
	if db.wconn == nil {
		// Single-connection mode: the batch is a transaction on the one
		// connection (BEGIN IMMEDIATE: the DSN's _txlock), which reads take
		// between batches; its statements are the DB's, kept prepared on
		// that connection from one batch to the next.
		var err error
		if tx, err = db.writer.BeginTx(ctx, nil); err != nil {
			finish(fmt.Errorf("storage: begin: %w", err))
			return
		}
		conn = tx
		defer db.prepareWanted(ctx)
	} else if err := db.execPinned(ctx, "BEGIN IMMEDIATE"); err != nil {
		finish(fmt.Errorf("storage: begin: %w", err))
		return
	}
	end := func(verb string) error {
		switch {
		case tx != nil && verb == "COMMIT":
			return tx.Commit()
		case tx != nil:
			return tx.Rollback()
		case verb == "COMMIT":
			return db.execPinned(ctx, verb)
		}
		_, err := conn.ExecContext(ctx, verb)
		return err
	}
	ok := 0
	advanced, events, searchStale, outbound := false, false, false, false
	var members memberChanges
	var taken []streamTaken
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		var adv, evs, stale, idle bool
		var mem memberChanges
		var tk []streamTaken
		q := writerQueryer{conn: conn, tx: tx, db: db, advanced: &adv, events: &evs, members: &mem, searchStale: &stale,
			outboundIdle: &idle, taken: &tk}
		t := time.Now()
		if len(batch) == 1 {
			results[i] = runGuarded(q, r.fn)
		} else {
			results[i] = runInSavepoint(q, r.fn)
		}
		db.times.write(r.fn, time.Since(t))
		if results[i] != nil {
			// Rolled back: so is what the writer's keys learned from it.
			db.keys.forget()
		}
		if results[i] == nil {
			ok++
			advanced = advanced || adv
			events = events || evs
			searchStale = searchStale || stale
			outbound = outbound || !idle
			members.list = append(members.list, mem.list...)
			members.unknown = members.unknown || mem.unknown
			taken = append(taken, tk...)
		}
	}
	if ok == 0 {
		_ = end("ROLLBACK")
		finish(nil)
		return
	}
	t := time.Now()
	err := end("COMMIT")
	db.times.commit.Add(int64(time.Since(t)))
	if outbound || err != nil {
		// Before the writers return (and anyone is woken): the sender
		// woken by this commit must not take its kept answer
		// (federationqueue_idle.go). A failed COMMIT moves it too.
		db.outbound.Add(1)
	}
	if err == nil {
		// Committed: the positions the batch left are current before
		// anyone is told (StreamAdvanced, the writers).
		db.positions.publish(taken)
		// The cached room lists take the batch's membership changes before
		// anyone is told of the commit: a /sync woken below must not find
		// a user's old list of rooms.
		db.members.apply(&members)
		if searchStale || members.unknown {
			// Before the writers return, so a search after a redaction
			// (or a leave, a purge) does not count what it took away.
			db.search.counts.stale()
		}
		if events {
			// Counted before the writers return, so a search that
			// starts after a send waits for its indexing.
			db.searchCommitted()
		}
	} else {
		if members.unknown || len(members.list) > 0 {
			db.members.invalidate()
		}
		if searchStale || members.unknown {
			db.search.counts.stale()
		}
	}
	if err != nil {
		if tx == nil {
			_ = end("ROLLBACK")
		}
		db.keys.forget()
		err = fmt.Errorf("storage: commit: %w", err)
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	} else if advanced && db.opts.StreamAdvanced != nil {
		// Committed: wake /sync before the writers learn their outcome, so
		// a client that reads right after its write finds waiters woken.
		db.opts.StreamAdvanced()
	}
	finish(nil)
}

// execPinned runs q, a statement without arguments, on the pinned writer
// connection from a statement kept prepared: BEGIN and COMMIT come once a
// transaction, and compiling them each time cost more than running them.
func (db *DB) execPinned(ctx context.Context, q string) error {
	st, ok := db.stmts[q]
	if !ok {
		var err error
		if st, err = db.wconn.PrepareContext(ctx, q); err != nil {
			return err
		}
		db.stmts[q] = st
	}
	_, err := st.ExecContext(ctx)
	return err
}

// runInSavepoint runs fn so that its failure undoes only its own changes.
func runInSavepoint(q writerQueryer, fn func(Queryer) error) error {
	if _, err := q.conn.ExecContext(context.Background(), "SAVEPOINT w"); err != nil {
		return fmt.Errorf("storage: savepoint: %w", err)
	}
	err := runGuarded(q, fn)
	if err != nil {
		_, _ = q.conn.ExecContext(context.Background(), "ROLLBACK TO w")
	}
	if _, rerr := q.conn.ExecContext(context.Background(), "RELEASE w"); rerr != nil && err == nil {
		err = fmt.Errorf("storage: release savepoint: %w", rerr)
	}
	return err
}

// runGuarded turns a panic in fn into an error, so one bad write cannot
// take the writer goroutine down. In a batch of one, a failure rolls the
// whole transaction back (commitBatch sees no successes).
func runGuarded(q writerQueryer, fn func(Queryer) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: write panicked: %v", p)
		}
	}()
	return fn(q)
}

// writerQueryer runs statements on the writer connection, from prepared
// statements kept by SQL text, with their cancellation removed: SQLite
// answers an interrupted INSERT/UPDATE/DELETE by rolling back the whole
// transaction, which would undo the other writes of the batch. A cancelled
// caller's write is skipped before it starts instead (commitBatch checks
// r.ctx). Statements without arguments may be scripts of several
// statements; they run unprepared.
type writerQueryer struct {
	// conn runs the batch: the pinned writer connection, or tx.
	conn Queryer
	// tx is the batch's transaction in single-connection mode, nil
	// otherwise.
	tx *sql.Tx
	db *DB
	// advanced is set when the write takes an id of a stream
	// (StreamIDs.Next), so the writer signals StreamAdvanced after commit.
	advanced *bool
	// taken collects the positions the write's StreamIDs.Next calls
	// leave, published once it commits (streampositions.go).
	taken *[]streamTaken
	// events is set when the write stores events (noteEventsStored), so
	// the writer counts the commit for the full-text index.
	events *bool
	// members collects the write's changes of local users' memberships
	// (noteMemberChange, markMembersChanged), which the writer applies to
	// the cached room lists as it commits.
	members *memberChanges
	// searchStale is set when the write changes what the full-text index
	// holds or who sees it (noteSearchStale): the searches' counts kept go
	// as it commits.
	searchStale *bool
	// outboundIdle is set by a write that gives the federation sender no
	// work (noteOutboundIdle); a commit of any other write moves
	// DB.outbound.
	outboundIdle *bool
}

// markMembersChanged records that the write on q changes local users'
// memberships in ways it does not list: once it commits, and before /sync
// is woken, the cached room lists (membershipCache) are dropped.
func markMembersChanged(q Queryer) {
	if w, ok := q.(writerQueryer); ok && w.members != nil {
		w.members.unknown = true
	}
}

func (w writerQueryer) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	st, ok := w.db.stmts[q]
	if w.tx != nil {
		// The DB's statement, on the transaction's connection, where
		// database/sql keeps it prepared. A statement the DB lacks cannot
		// be prepared on the DB now (that needs the connection the batch
		// holds): it runs prepared for this batch only, and the DB
		// prepares it after the batch (prepareWanted).
		if ok {
			return w.tx.StmtContext(ctx, st), nil
		}
		if w.db.wanted == nil {
			w.db.wanted = map[string]bool{}
		}
		w.db.wanted[q] = true
		return w.tx.PrepareContext(ctx, q)
	}
	if ok {
		return st, nil
	}
	st, err := w.conn.(*sql.Conn).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.db.stmts[q] = st
	return st, nil
}

// detach returns ctx without its cancellation; a context that has none
// (a write's own detached context, which the persister makes once for its
// statements) is returned as it is, without an allocation per statement.
func detach(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

func (w writerQueryer) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = detach(ctx)
	if len(args) == 0 {
		return w.conn.ExecContext(ctx, q)
	}
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (w writerQueryer) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = detach(ctx)
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (w writerQueryer) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = detach(ctx)
	st, err := w.stmt(ctx, q)
	if err != nil {
		// Let the connection report the error through the Row.
		return w.conn.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// maxWriterStmts bounds the statements the writer keeps prepared in
// single-connection mode.
const maxWriterStmts = 512

// prepareWanted prepares on the DB the statements that the last batch ran
// without a prepared statement of the DB (single-connection mode).
func (db *DB) prepareWanted(ctx context.Context) {
	for q := range db.wanted {
		delete(db.wanted, q)
		if len(db.stmts) >= maxWriterStmts {
			continue
		}
		if st, err := db.writer.PrepareContext(ctx, q); err == nil {
			db.stmts[q] = st
		}
	}
}

// dropStmts closes the writer's prepared statements.
func (db *DB) dropStmts() {
	for q, st := range db.stmts {
		st.Close()
		delete(db.stmts, q)
	}
}
