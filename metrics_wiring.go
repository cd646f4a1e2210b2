package hearth

import (
	"context"
	"log/slog"

	"hearth.dev/hearth/metrics"
	"hearth.dev/hearth/storage"
)

// syncWaiterCounter is what the metrics read of the client API.
type syncWaiterCounter interface{ SyncWaiters() int64 }

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
