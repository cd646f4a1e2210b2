package storage

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
)

// The streams' current positions, kept in memory: every id of a stream is
// taken by the one writer (StreamIDs.Next), which learns the position each
// write leaves and publishes it once the write is committed. A /sync asks
// for six positions; reading them from here costs no statement.
//
// What a position promises is that everything up to it is committed, so a
// read that begins after the position was taken sees all of it. A read
// scope's transaction may have begun before the latest commit: inside a
// scope the positions are those published when its transaction began
// (older ones, each still covered by the scope's snapshot).

// positionMap is one published set of positions by stream name; it is
// never changed once published.
type positionMap map[string]int64

// streamPositions holds the published positions.
type streamPositions struct {
	cur atomic.Pointer[positionMap]
}

// sqlStreamPositions reads every stream's position.
const sqlStreamPositions = `SELECT stream_name, stream_id FROM stream_positions`

// sqlHasStreamPositions says whether hearth.db (its schema name is %s)
// has the table (a schema of the migrator's tests may not). It reads
// sqlite_schema, not pragma_table_list: that one is a virtual table, and
// the tab would compile SQLite's virtual-table code at every start for it.
const sqlHasStreamPositions = `SELECT count(*) FROM %s.sqlite_schema WHERE type = 'table' AND name = 'stream_positions'`

// load reads every stream's position from the database: at open, before
// the writer takes any write. Without the table nothing is kept. schema
// is hearth.db's schema name on q.
func (p *streamPositions) load(ctx context.Context, q Queryer, schema string) error {
	var n int
	if err := q.QueryRowContext(ctx, fmt.Sprintf(sqlHasStreamPositions, schema)).Scan(&n); err != nil {
		return fmt.Errorf("storage: stream positions: %w", err)
	}
	if n == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, sqlStreamPositions)
	if err != nil {
		return fmt.Errorf("storage: stream positions: %w", err)
	}
	defer rows.Close()
	m := positionMap{}
	for rows.Next() {
		var name string
		var id int64
		if err := rows.Scan(&name, &id); err != nil {
			return fmt.Errorf("storage: stream positions: %w", err)
		}
		m[name] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: stream positions: %w", err)
	}
	p.cur.Store(&m)
	return nil
}

// streamTaken is the position a stream is at after a write took ids of it.
type streamTaken struct {
	name string
	id   int64
}

// publish makes the positions a committed batch left current; taken is
// in the order the ids were taken (a later entry of a stream is its newer
// position). Only the writer goroutine calls it.
func (p *streamPositions) publish(taken []streamTaken) {
	if len(taken) == 0 {
		return
	}
	old := p.cur.Load()
	if old == nil {
		return // not loaded: every position is read from the database
	}
	m := maps.Clone(*old)
	for _, t := range taken {
		m[t.name] = t.id
	}
	p.cur.Store(&m)
}

// position returns stream's current position as a read with ctx may use:
// the published one, or inside a read scope whose transaction has begun,
// the one published before it began. A stream the map lacks is read from
// the database.
func (db *DB) position(ctx context.Context, stream StreamIDs) (int64, error) {
	m := db.positions.cur.Load()
	if s := db.scopeOf(ctx); s != nil {
		if sm := s.positions(); sm != nil {
			m = sm
		}
	}
	if m != nil {
		if id, ok := (*m)[stream.Name]; ok {
			return id, nil
		}
	}
	return stream.Current(ctx, db.Cached())
}
