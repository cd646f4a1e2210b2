package storage

import (
	"context"
	"fmt"
	"sync/atomic"
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
}

// WriterStats returns the writer's queue depth and batch sizes.
func (db *DB) WriterStats() WriterStats {
	st := WriterStats{QueueDepth: len(db.writes), Batches: db.batches.batches.Load(), Writes: db.batches.writes.Load()}
	st.BatchCounts = make([]uint64, len(db.batches.buckets))
	for i := range db.batches.buckets {
		st.BatchCounts[i] = db.batches.buckets[i].Load()
	}
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
