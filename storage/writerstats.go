package storage

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BatchBounds are the upper bounds of the writer's batch size buckets.
var BatchBounds = []int{1, 2, 4, 8, 16, 32, 64, 128}

// batchCounts counts the writer's transactions by the number of writes
// they grouped.
type batchCounts struct {
	buckets [9]atomic.Uint64 // per BatchBounds, then larger
	writes  atomic.Uint64
	batches atomic.Uint64
}

func (c *batchCounts) record(n int) {
	i := 0
	for i < len(BatchBounds) && n > BatchBounds[i] {
		i++
	}
	c.buckets[i].Add(1)
	c.writes.Add(uint64(n))
	c.batches.Add(1)
}

// writerTimes adds up where the writer's time goes: in the write functions
// (by function), and in BEGIN and COMMIT (which, with SQLite's automatic
// checkpoints, also copies the WAL into the database and syncs both).
// Only the writer goroutine adds to it.
type writerTimes struct {
	busy, commit atomic.Int64 // nanoseconds

	// names caches each write function's name by its code address
	// (writer goroutine only).
	names map[uintptr]string

	mu      sync.Mutex
	byWrite map[string]*WriteTime
}

// WriteTime is the time the writer spent in one kind of write function.
type WriteTime struct {
	Count uint64
	Time  time.Duration
	// Max is the longest single run.
	Max time.Duration
}

// writeName names fn by its function: for a closure, the function that
// made it (storage.(*E2EEStore).AddOneTimeKeys.func1), the same for every
// write made there. Where the compiler inlined that function into a
// caller, the caller's name comes first (core.(*X).y.(*Store).Z.func1).
func (t *writerTimes) writeName(fn func(Queryer) error) string {
	pc := reflect.ValueOf(fn).Pointer()
	if name, ok := t.names[pc]; ok {
		return name
	}
	name := "unknown"
	if f := runtime.FuncForPC(pc); f != nil {
		name = strings.TrimPrefix(f.Name(), "hearth.dev/hearth/")
	}
	if t.names == nil {
		t.names = map[uintptr]string{}
	}
	t.names[pc] = name
	return name
}

// write records one run of fn that took d.
func (t *writerTimes) write(fn func(Queryer) error, d time.Duration) {
	name := t.writeName(fn)
	t.mu.Lock()
	defer t.mu.Unlock()
	wt := t.byWrite[name]
	if wt == nil {
		if t.byWrite == nil {
			t.byWrite = map[string]*WriteTime{}
		}
		wt = &WriteTime{}
		t.byWrite[name] = wt
	}
	wt.Count++
	wt.Time += d
	wt.Max = max(wt.Max, d)
}

// WriterStats are the single writer's figures since the database opened.
type WriterStats struct {
	// QueueDepth is the number of writes waiting for the writer now.
	QueueDepth int
	// BatchCounts[i] transactions grouped at most BatchBounds[i] writes
	// (and more than the bound before); the last entry counts larger ones.
	BatchCounts []uint64
	// Batches and Writes are the transactions committed and the writes
	// they held.
	Batches, Writes uint64
	// Busy is the time the writer spent on transactions, from BEGIN to
	// the end of COMMIT; Commit the part of it in COMMIT.
	Busy, Commit time.Duration
	// ByWrite is the time spent in the write functions, by the name of
	// the function (package-qualified, without the module path).
	ByWrite map[string]WriteTime
}

// WriterStats returns the writer's queue depth, batch sizes and times.
func (db *DB) WriterStats() WriterStats {
	st := WriterStats{QueueDepth: len(db.writes), Batches: db.batches.batches.Load(), Writes: db.batches.writes.Load()}
	st.BatchCounts = make([]uint64, len(db.batches.buckets))
	for i := range db.batches.buckets {
		st.BatchCounts[i] = db.batches.buckets[i].Load()
	}
	st.Busy = time.Duration(db.times.busy.Load())
	st.Commit = time.Duration(db.times.commit.Load())
	db.times.mu.Lock()
	st.ByWrite = make(map[string]WriteTime, len(db.times.byWrite))
	for name, wt := range db.times.byWrite {
		st.ByWrite[name] = *wt
	}
	db.times.mu.Unlock()
	return st
}

// OutboundQueueDepths returns, per destination, the PDUs and EDUs queued
// for it by the federation sender.
func (db *DB) OutboundQueueDepths(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlOutboundQueueDepths)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			var n int
			if err := rows.Scan(&d, &n); err != nil {
				return err
			}
			out[d] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: outbound queue depths: %w", err)
	}
	return out, nil
}

const sqlOutboundQueueDepths = `SELECT destination, count(*) FROM (
	SELECT destination FROM federation_outbound_pdus UNION ALL SELECT destination FROM federation_outbound_edus)
	GROUP BY destination`
