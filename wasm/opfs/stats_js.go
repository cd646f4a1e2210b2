package opfs

import "sync/atomic"

// Stats counts the calls the VFS made on sync access handles since the
// program started: each is a crossing from Go into JavaScript, and what a
// send in the tab costs in file I/O is best told by these counts, which
// do not depend on how busy the machine is.
type Stats struct {
	Reads, Writes, Flushes, Sizes, Truncates int64
	// WriteBytes is the bytes the writes carried.
	WriteBytes int64
}

var stats struct {
	reads, writes, writeBytes, flushes, sizes, truncates atomic.Int64
}

// ReadStats returns the counts so far.
func ReadStats() Stats {
	return Stats{
		Reads:      stats.reads.Load(),
		Writes:     stats.writes.Load(),
		WriteBytes: stats.writeBytes.Load(),
		Flushes:    stats.flushes.Load(),
		Sizes:      stats.sizes.Load(),
		Truncates:  stats.truncates.Load(),
	}
}
