package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	results := make([]error, len(batch))
	finish := func(err error) {
		for i, r := range batch {
			if err != nil && results[i] == nil {
				results[i] = err
			}
			r.done <- results[i]
		}
	}
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		finish(fmt.Errorf("storage: writer connection: %w", err))
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		finish(fmt.Errorf("storage: begin: %w", err))
		return
	}
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if len(batch) == 1 {
			results[i] = runGuarded(r.ctx, conn, r.fn)
		} else {
			results[i] = runInSavepoint(r.ctx, conn, r.fn)
		}
		if results[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		finish(nil)
		return
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		err = fmt.Errorf("storage: commit: %w", err)
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	finish(nil)
}

// runInSavepoint runs fn so that its failure undoes only its own changes.
func runInSavepoint(ctx context.Context, conn *sql.Conn, fn func(Queryer) error) error {
	if _, err := conn.ExecContext(context.Background(), "SAVEPOINT w"); err != nil {
		return fmt.Errorf("storage: savepoint: %w", err)
	}
	err := runGuarded(ctx, conn, fn)
	if err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK TO w")
	}
	if _, rerr := conn.ExecContext(context.Background(), "RELEASE w"); rerr != nil && err == nil {
		err = fmt.Errorf("storage: release savepoint: %w", rerr)
	}
	return err
}

// runGuarded turns a panic in fn into an error, so one bad write cannot
// take the writer goroutine down. In a batch of one, a failure rolls the
// whole transaction back (commitBatch sees no successes).
func runGuarded(ctx context.Context, conn *sql.Conn, fn func(Queryer) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: write panicked: %v", p)
		}
	}()
	return fn(ctxQueryer{ctx: ctx, conn: conn})
}

// ctxQueryer runs statements on the pinned writer connection with their
// cancellation removed: SQLite answers an interrupted INSERT/UPDATE/DELETE
// by rolling back the whole transaction, which would undo the other writes
// of the batch. A cancelled caller's write is skipped before it starts
// instead (commitBatch checks r.ctx).
type ctxQueryer struct {
	ctx  context.Context
	conn *sql.Conn
}

func (c ctxQueryer) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.conn.ExecContext(context.WithoutCancel(ctx), q, args...)
}

func (c ctxQueryer) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.conn.QueryContext(context.WithoutCancel(ctx), q, args...)
}

func (c ctxQueryer) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.conn.QueryRowContext(context.WithoutCancel(ctx), q, args...)
}
