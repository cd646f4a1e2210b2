package storage

import (
	"context"
	"database/sql"
	"sync"
)

// preparedRead is the Queryer of Read's transactions: its statements run
// from statements kept prepared by SQL text, as the writer's do.
// Compiling a statement costs more than running a small one with this
// SQLite build, and most reads are small (the federation sender's
// "anything new?" checks after every write, /sync's reads per room):
// unprepared, SQLite's parser took 7 % of the server's CPU in the mixed
// load. A statement not prepared yet runs unprepared in this transaction
// and is prepared once the transaction has given its connection back: with
// one connection (the browser), preparing during it would wait for the
// connection the transaction holds; on the native read pool, for a free
// one. database/sql keeps a prepared statement compiled on every pool
// connection it has run on.
type preparedRead struct {
	tx     *sql.Tx
	stmts  *readTxStmts
	wanted []string
}

var _ Queryer = (*preparedRead)(nil)

func (r *preparedRead) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.tx.ExecContext(ctx, q, args...)
}

func (r *preparedRead) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(q); st != nil {
		return r.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return r.tx.QueryContext(ctx, q, args...)
}

func (r *preparedRead) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := r.stmt(q); st != nil {
		return r.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return r.tx.QueryRowContext(ctx, q, args...)
}

// stmt returns q's prepared statement, or nil (and notes q for prepare).
func (r *preparedRead) stmt(q string) *sql.Stmt {
	st, known := r.stmts.lookup(q)
	if !known {
		r.wanted = append(r.wanted, q)
	}
	return st
}

// txOf returns the transaction a Read's Queryer runs in, or nil.
func txOf(q Queryer) *sql.Tx {
	switch q := q.(type) {
	case *sql.Tx:
		return q
	case *preparedRead:
		return q.tx
	}
	return nil
}

// readTxStmts keeps the statements of Read's transactions prepared, by
// SQL text. Texts that cannot be prepared on their own (a
// script of several statements) are remembered as such and always run
// unprepared.
type readTxStmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt // nil value: cannot be prepared
}

// lookup returns q's statement; known is false when q was never prepared
// nor tried.
func (c *readTxStmts) lookup(q string) (st *sql.Stmt, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, known = c.m[q]
	return st, known
}

// prepare prepares the statements a read transaction wanted; it runs
// outside any transaction. At most maxCachedReads texts are kept (queries
// built from filters vary in text; the rest run unprepared).
func (c *readTxStmts) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		_, known := c.m[q]
		full := len(c.m) >= maxCachedReads
		c.mu.Unlock()
		if known || full {
			continue
		}
		// A cancelled caller must not mark a good statement as one that
		// cannot be prepared.
		st, err := c.db.PrepareContext(context.WithoutCancel(ctx), q)
		if err != nil {
			st = nil
		}
		c.mu.Lock()
		if _, known := c.m[q]; known {
			if st != nil {
				st.Close()
			}
		} else {
			if c.m == nil {
				c.m = map[string]*sql.Stmt{}
			}
			c.m[q] = st
		}
		c.mu.Unlock()
	}
}
