// Package metrics keeps hearth's operational metrics and serves them in
// the Prometheus text exposition format (version 0.0.4): HTTP requests by
// endpoint (the route pattern, never the raw path, so the label set stays
// bounded) and status, request latency histograms, and values read when
// scraped (database size, writer queue, /sync waiters, background
// updates, federation queues) that the composition root registers.
//
// The format is written by hand: it is a few lines of text, and this keeps
// the package free of dependencies and small in the browser build.
//
// Importing the package has no side effects.
package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the request latency
// histogram (a /sync long-poll lands in the last ones).
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// Label is one label of a sample.
type Label struct{ Name, Value string }

// Sample is one value of a metric read when scraped.
type Sample struct {
	Labels []Label
	Value  float64
}

// Histogram is a histogram read when scraped: Counts[i] observations fell
// at or below Bounds[i] and above the bound before (not cumulative); Count
// and Sum cover every observation, those above the last bound too.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// collector is a metric read when scraped.
type collector struct {
	name, help, typ string
	samples         func(ctx context.Context) ([]Sample, error)
	histogram       func() Histogram
}

type requestKey struct{ endpoint, method, status string }
type latencyKey struct{ endpoint, method string }

// Registry holds the metrics. The zero value is not usable: call New.
type Registry struct {
	log *slog.Logger

	mu         sync.Mutex
	requests   map[requestKey]uint64
	latency    map[latencyKey]*histogram
	collectors []collector
}

// New returns an empty registry; scrape errors are logged to log (nil:
// slog.Default()).
func New(log *slog.Logger) *Registry {
	if log == nil {
		log = slog.Default()
	}
	return &Registry{log: log, requests: map[requestKey]uint64{}, latency: map[latencyKey]*histogram{}}
}

// Gauge registers a gauge whose samples fn reads at each scrape.
func (r *Registry) Gauge(name, help string, fn func(ctx context.Context) ([]Sample, error)) {
	r.add(collector{name: name, help: help, typ: "gauge", samples: fn})
}

// Counter registers a counter whose samples fn reads at each scrape.
func (r *Registry) Counter(name, help string, fn func(ctx context.Context) ([]Sample, error)) {
	r.add(collector{name: name, help: help, typ: "counter", samples: fn})
}

// HistogramFunc registers a histogram fn reads at each scrape.
func (r *Registry) HistogramFunc(name, help string, fn func() Histogram) {
	r.add(collector{name: name, help: help, typ: "histogram", histogram: fn})
}

func (r *Registry) add(c collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, c)
}

// histogram is a latency histogram kept by the registry.
type histogram struct {
	counts []uint64 // per bucket of LatencyBuckets, then +Inf
	sum    float64
	n      uint64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(LatencyBuckets)+1)
	}
	i, _ := slices.BinarySearch(LatencyBuckets, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

// Instrument counts the requests next serves and times them, labelled by
// the route pattern next's http.ServeMux matched (r.Pattern, without its
// method: "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"),
// or "unmatched". next must route the request it is given (not a copy).
func (r *Registry) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, req)
		r.observe(endpointOf(req.Pattern), req.Method, sw.status(), time.Since(start))
	})
}

// endpointOf strips the method (and host) from a ServeMux pattern.
func endpointOf(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // a host pattern
	}
	return pattern
}

func (r *Registry) observe(endpoint, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch:
	default:
		method = "other" // a client must not grow the label set
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[requestKey{endpoint, method, strconv.Itoa(status)}]++
	lk := latencyKey{endpoint, method}
	h := r.latency[lk]
	if h == nil {
		h = &histogram{}
		r.latency[lk] = h
	}
	h.observe(d.Seconds())
}

// statusWriter records the status a handler sends.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// ServeHTTP answers a scrape (GET) with every metric.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.WriteTo(req.Context(), w)
}

// WriteTo writes every metric in the text exposition format. A collector
// that fails is logged and left out of this scrape.
func (r *Registry) WriteTo(ctx context.Context, out io.Writer) error {
	var b strings.Builder
	r.mu.Lock()
	writeHeader(&b, "hearth_http_requests_total", "HTTP requests answered, by route pattern, method and status.", "counter")
	rkeys := make([]requestKey, 0, len(r.requests))
	for k := range r.requests {
		rkeys = append(rkeys, k)
	}
	slices.SortFunc(rkeys, func(a, c requestKey) int {
		return strings.Compare(a.endpoint+"\x00"+a.method+"\x00"+a.status, c.endpoint+"\x00"+c.method+"\x00"+c.status)
	})
	for _, k := range rkeys {
		writeSample(&b, "hearth_http_requests_total", []Label{{"endpoint", k.endpoint}, {"method", k.method}, {"status", k.status}}, float64(r.requests[k]))
	}
	writeHeader(&b, "hearth_http_request_duration_seconds", "Time to answer HTTP requests, by route pattern and method.", "histogram")
	lkeys := make([]latencyKey, 0, len(r.latency))
	for k := range r.latency {
		lkeys = append(lkeys, k)
	}
	slices.SortFunc(lkeys, func(a, c latencyKey) int {
		return strings.Compare(a.endpoint+"\x00"+a.method, c.endpoint+"\x00"+c.method)
	})
	for _, k := range lkeys {
		h := r.latency[k]
		writeHistogram(&b, "hearth_http_request_duration_seconds", []Label{{"endpoint", k.endpoint}, {"method", k.method}},
			Histogram{Bounds: LatencyBuckets, Counts: h.counts[:len(LatencyBuckets)], Count: h.n, Sum: h.sum})
	}
	collectors := slices.Clone(r.collectors)
	r.mu.Unlock()

	for _, c := range collectors {
		if c.histogram != nil {
			writeHeader(&b, c.name, c.help, c.typ)
			writeHistogram(&b, c.name, nil, c.histogram())
			continue
		}
		samples, err := c.samples(ctx)
		if err != nil {
			r.log.Warn("metrics: reading a metric", "metric", c.name, "err", err)
			continue
		}
		writeHeader(&b, c.name, c.help, c.typ)
		for _, s := range samples {
			writeSample(&b, c.name, s.Labels, s.Value)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func writeHeader(b *strings.Builder, name, help, typ string) {
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func writeSample(b *strings.Builder, name string, labels []Label, v float64) {
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.Name)
			b.WriteString(`="`)
			b.WriteString(labelEscaper.Replace(l.Value))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatValue(v))
	b.WriteByte('\n')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// writeHistogram writes the cumulative buckets, sum and count of h.
func writeHistogram(b *strings.Builder, name string, labels []Label, h Histogram) {
	var cum uint64
	for i, bound := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		writeSample(b, name+"_bucket", append(slices.Clip(labels), Label{"le", formatValue(bound)}), float64(cum))
	}
	writeSample(b, name+"_bucket", append(slices.Clip(labels), Label{"le", "+Inf"}), float64(h.Count))
	writeSample(b, name+"_sum", labels, h.Sum)
	writeSample(b, name+"_count", labels, float64(h.Count))
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
