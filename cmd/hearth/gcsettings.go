package main

import (
	"log/slog"
	"runtime/debug"

	"hearth.dev/hearth"
)

// gcSettings is what applyGCSettings set: the GOGC percent (-1: off) and
// the soft memory limit in bytes (-1: none), each with where it came
// from.
type gcSettings struct {
	percent       int
	limit         int64
	percentSource string
	limitSource   string
}

// applyGCSettings sets the garbage collector from memory.gc_percent and
// memory.limit, except where GOGC or GOMEMLIMIT is set in the environment
// (lookup): the Go runtime has read those already, and the user's choice
// wins. A server's live heap is mostly its caches, bounded by
// memory.cache_bytes; the limit keeps the heap's growth between
// collections from taking the process far above that.
func applyGCSettings(mem hearth.MemoryConfig, lookup func(string) (string, bool)) (gcSettings, error) {
	var s gcSettings
	if v, ok := lookup("GOGC"); ok && v != "" {
		s.percent, s.percentSource = debug.SetGCPercent(-1), "GOGC"
		debug.SetGCPercent(s.percent)
	} else {
		p, err := mem.GOGC()
		if err != nil {
			return s, err
		}
		debug.SetGCPercent(p)
		s.percent, s.percentSource = p, "memory.gc_percent"
	}
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		s.limit, s.limitSource = debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	} else {
		l, err := mem.MemoryLimit()
		if err != nil {
			return s, err
		}
		if l < 0 {
			debug.SetMemoryLimit(1<<63 - 1) // the runtime's "no limit"
		} else {
			debug.SetMemoryLimit(l)
		}
		s.limit, s.limitSource = l, "memory.limit"
	}
	return s, nil
}

func (s gcSettings) log(log *slog.Logger) {
	log.Info("garbage collector", "gogc", s.percent, "gogc_from", s.percentSource,
		"memory_limit", s.limit, "memory_limit_from", s.limitSource)
}
