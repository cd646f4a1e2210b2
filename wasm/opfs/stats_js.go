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
	// Awaits is the promises the VFS waited for (directory and file
	// handles, access checks, deletes): each a round trip to the browser
	// process. Roots is how many of them asked for the OPFS root, and
	// Lookups how many times the VFS looked a file's directory up (each
	// asked for the root before it was kept).
	Awaits, Roots, Lookups int64
}

var stats struct {
	reads, writes, writeBytes, flushes, sizes, truncates, awaits, roots, lookups atomic.Int64
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
		Awaits:     stats.awaits.Load(),
		Roots:      stats.roots.Load(),
		Lookups:    stats.lookups.Load(),
	}
}
