package hearth

import "log/slog"

// startMetrics builds nothing in the browser build. The registry exists
// for the listener `hearth serve` opens (metrics.listen), and a tab opens
// no listener: its instrumentation would count requests nobody can
// scrape. Leaving it out keeps the metrics package, the registry's
// Prometheus writer and the scrape-time readers out of the tab's download
// (TestBrowserBuildDeps).
func (hs *Homeserver) startMetrics(syncWaiterCounter, *slog.Logger) {}
