//go:build !js

package hearth

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"hearth.dev/hearth/metrics"
	"hearth.dev/hearth/storage"
)

// startMetrics builds the metrics registry (metrics.listen set): it
// instruments the client and federation handlers and registers the values
// read at each scrape. The registry is hs.Metrics, for the listener
// `hearth serve` opens.
func (hs *Homeserver) startMetrics(client syncWaiterCounter, log *slog.Logger) {
	reg := metrics.New(log)
	hs.Metrics = reg
	hs.Handler = reg.Instrument(hs.Handler)
	if hs.Federation != nil {
		hs.Federation = reg.Instrument(hs.Federation)
	}
	db := hs.db
	one := func(v float64) []metrics.Sample { return []metrics.Sample{{Value: v}} }
	reg.Gauge("hearth_database_size_bytes", "Size of the database (pages in use, both files).", func(ctx context.Context) ([]metrics.Sample, error) {
		n, err := db.Size(ctx)
		return one(float64(n)), err
	})
	reg.Gauge("hearth_db_writer_queue_depth", "Writes waiting for the single writer.", func(context.Context) ([]metrics.Sample, error) {
		return one(float64(db.WriterStats().QueueDepth)), nil
	})
	reg.HistogramFunc("hearth_db_writer_batch_size", "Writes grouped into one transaction by the writer.", func() metrics.Histogram {
		st := db.WriterStats()
		h := metrics.Histogram{Counts: st.BatchCounts, Count: st.Batches, Sum: float64(st.Writes)}
		for _, b := range storage.BatchBounds {
			h.Bounds = append(h.Bounds, float64(b))
		}
		return h
	})
	reg.Counter("hearth_db_writer_busy_seconds_total", "Time the single writer spent on transactions, BEGIN to the end of COMMIT.", func(context.Context) ([]metrics.Sample, error) {
		return one(db.WriterStats().Busy.Seconds()), nil
	})
	reg.Counter("hearth_db_writer_commit_seconds_total", "Time the single writer spent in COMMIT (with SQLite's automatic WAL checkpoints).", func(context.Context) ([]metrics.Sample, error) {
		return one(db.WriterStats().Commit.Seconds()), nil
	})
	reg.Counter("hearth_db_writer_write_seconds_total", "Time the single writer spent in each kind of write, by the function that wrote.", func(context.Context) ([]metrics.Sample, error) {
		return writeSamples(db.WriterStats(), func(t storage.WriteTime) float64 { return t.Time.Seconds() }), nil
	})
	reg.Counter("hearth_db_writer_writes_total", "Writes run by the single writer, by the function that wrote.", func(context.Context) ([]metrics.Sample, error) {
		return writeSamples(db.WriterStats(), func(t storage.WriteTime) float64 { return float64(t.Count) }), nil
	})
	reg.Gauge("hearth_db_writer_write_max_seconds", "The longest single write of each kind since the start, by the function that wrote.", func(context.Context) ([]metrics.Sample, error) {
		return writeSamples(db.WriterStats(), func(t storage.WriteTime) float64 { return t.Max.Seconds() }), nil
	})
	reg.Counter("hearth_db_checkpoints_total", "WAL checkpoints run beside the writer.", func(context.Context) ([]metrics.Sample, error) {
		return one(float64(db.CheckpointStats().Runs)), nil
	})
	reg.Counter("hearth_db_checkpoint_finishes_total", "WAL checkpoints finished inside a write, while the writer waited (WAL past 4,000 pages).", func(context.Context) ([]metrics.Sample, error) {
		return one(float64(db.CheckpointStats().Finishes)), nil
	})
	reg.Counter("hearth_db_checkpoint_seconds_total", "Time the WAL checkpoints beside the writer took.", func(context.Context) ([]metrics.Sample, error) {
		return one(db.CheckpointStats().Time.Seconds()), nil
	})
	reg.Counter("hearth_db_checkpoint_frames_total", "WAL frames (pages) the checkpoints copied into the database file.", func(context.Context) ([]metrics.Sample, error) {
		return one(float64(db.CheckpointStats().Frames)), nil
	})
	reg.Counter("hearth_db_read_transactions_total", "Read transactions begun on the read pool: each read's own, or one per read scope (a read-only request's reads together).", func(context.Context) ([]metrics.Sample, error) {
		return one(float64(db.ReadTransactions())), nil
	})
	reg.Gauge("hearth_sync_waiters", "/sync requests waiting for news.", func(context.Context) ([]metrics.Sample, error) {
		return one(float64(client.SyncWaiters())), nil
	})
	reg.Gauge("hearth_background_updates_pending", "Background updates of the database not yet complete.", func(ctx context.Context) ([]metrics.Sample, error) {
		p, err := db.PendingUpdates(ctx)
		return one(float64(len(p))), err
	})
	if hs.modules != nil {
		hs.registerModuleMetrics(reg)
	}
	reg.Gauge("hearth_federation_queue_depth", "PDUs and EDUs queued for each destination by the federation sender.", func(ctx context.Context) ([]metrics.Sample, error) {
		depths, err := db.OutboundQueueDepths(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]metrics.Sample, 0, len(depths))
		for d, n := range depths {
			out = append(out, metrics.Sample{Labels: []metrics.Label{{Name: "destination", Value: d}}, Value: float64(n)})
		}
		return out, nil
	})
}

// writeSamples is one sample per kind of write, labelled with its function.
func writeSamples(st storage.WriterStats, value func(storage.WriteTime) float64) []metrics.Sample {
	out := make([]metrics.Sample, 0, len(st.ByWrite))
	for _, name := range slices.Sorted(maps.Keys(st.ByWrite)) {
		out = append(out, metrics.Sample{Labels: []metrics.Label{{Name: "write", Value: name}}, Value: value(st.ByWrite[name])})
	}
	return out
}
