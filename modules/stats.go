package modules

import (
	"slices"
	"sync"
	"time"

	"hearth.dev/hearth/core"
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

// ModuleInfo implements core.Modules: the loaded modules with their
// counts.
func (h *Host) ModuleInfo() []core.ModuleInfo {
	if h == nil {
		return nil
	}
	out := make([]core.ModuleInfo, 0, len(h.mods))
	for _, m := range h.mods {
		st := core.ModuleInfo{Name: m.name, Path: m.spec.Path, OnError: m.spec.OnError,
			MemoryPages: m.spec.MemoryPages, TimeoutMS: m.spec.Timeout.Milliseconds(),
			CallsBy: map[string]uint64{}, FailuresBy: map[string]uint64{}, Callbacks: []string{}}
		for _, cb := range callbacks {
			if m.exports[cb] {
				st.Callbacks = append(st.Callbacks, cb)
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
			st.P50Micros = float64(d[(len(d)-1)/2].Nanoseconds()) / 1e3
		}
		m.stats.mu.Unlock()
		out = append(out, st)
	}
	return out
}
