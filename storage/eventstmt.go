package storage

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedReads bounds the read statements kept prepared (queries built
// from filters vary in text; the rest run unprepared).
const maxCachedReads = 256

// readStmts keeps the event store's read statements prepared on the read
// pool. database/sql prepares a *sql.Stmt once per connection and reuses it
// in every transaction on that connection, which saves SQLite compiling the
// statement again for each read: with this SQLite build compiling is a large
// part of a small read's cost.
type readStmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns query prepared, or nil when it cannot be cached (the caller
// then runs it unprepared, which reports any error in it). It must be called
// outside any transaction: preparing on the pool may need a connection of
// its own, and with a single connection that would wait forever.
func (c *readStmts) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxCachedReads
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		st.Close()
		return old
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

// reader runs the queries of one read transaction, prepared when they were
// named to EventStore.read.
type reader struct {
	ctx   context.Context
	q     Queryer
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (r reader) query(query string, args ...any) (*sql.Rows, error) {
	if st := r.stmts[query]; st != nil && r.tx != nil {
		return r.tx.StmtContext(r.ctx, st).QueryContext(r.ctx, args...)
	}
	return r.q.QueryContext(r.ctx, query, args...)
}

func (r reader) queryRow(query string, args ...any) *sql.Row {
	if st := r.stmts[query]; st != nil && r.tx != nil {
		return r.tx.StmtContext(r.ctx, st).QueryRowContext(r.ctx, args...)
	}
	return r.q.QueryRowContext(r.ctx, query, args...)
}

// read runs fn in one read transaction with queries prepared.
func (s *EventStore) read(ctx context.Context, queries []string, fn func(r reader) error) error {
	stmts := make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		if st := s.stmts.get(ctx, q); st != nil {
			stmts[q] = st
		}
	}
	return s.db.Read(ctx, func(q Queryer) error {
		return fn(reader{ctx: ctx, q: q, tx: txOf(q), stmts: stmts})
	})
}
