package modules

import (
	"slices"
	"sync"
	"time"
)

// window is how many recent call times the p99 is taken over.
const window = 1024

// stats counts one module's calls.
type stats struct {
	mu        sync.Mutex
	calls     map[string]uint64
	failures  map[string]uint64
	durations [window]time.Duration
	n         int // calls recorded in durations (at most window)
	next      int
}

func (s *stats) record(callback string, d time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls, s.failures = map[string]uint64{}, map[string]uint64{}
	}
	s.calls[callback]++
	if failed {
		s.failures[callback]++
	}
	s.durations[s.next] = d
	s.next = (s.next + 1) % window
	s.n = min(s.n+1, window)
}

// Stats are one module's numbers, as the admin API lists them.
type Stats struct {
	Name    string   `json:"name"`
	Path    string   `json:"path"`
	OnError string   `json:"on_error"`
	Exports []string `json:"callbacks"`
	// MemoryPages and TimeoutMS are the module's caps.
	MemoryPages uint32 `json:"memory_pages"`
	TimeoutMS   int64  `json:"timeout_ms"`
	Calls       uint64 `json:"calls"`
	Failures    uint64 `json:"failures"`
	// CallsBy and FailuresBy split them by callback.
	CallsBy    map[string]uint64 `json:"calls_by_callback"`
	FailuresBy map[string]uint64 `json:"failures_by_callback"`
	// P99Micros is the 99th percentile of the last 1024 calls' time,
	// in microseconds (0 before any call).
	P99Micros float64 `json:"p99_call_us"`
}

// Stats lists the loaded modules with their counts.
func (h *Host) Stats() []Stats {
	if h == nil {
		return nil
	}
	out := make([]Stats, 0, len(h.mods))
	for _, m := range h.mods {
		st := Stats{Name: m.name, Path: m.spec.Path, OnError: m.spec.OnError,
			MemoryPages: m.spec.MemoryPages, TimeoutMS: m.spec.Timeout.Milliseconds(),
			CallsBy: map[string]uint64{}, FailuresBy: map[string]uint64{}, Exports: []string{}}
		for _, cb := range callbacks {
			if m.exports[cb] {
				st.Exports = append(st.Exports, cb)
			}
		}
		m.stats.mu.Lock()
		for cb, n := range m.stats.calls {
			st.CallsBy[cb] = n
			st.Calls += n
		}
		for cb, n := range m.stats.failures {
			st.FailuresBy[cb] = n
			st.Failures += n
		}
		if m.stats.n > 0 {
			d := slices.Clone(m.stats.durations[:m.stats.n])
			slices.Sort(d)
			i := (len(d)*99+99)/100 - 1
			st.P99Micros = float64(d[i].Nanoseconds()) / 1e3
		}
		m.stats.mu.Unlock()
		out = append(out, st)
	}
	return out
}
