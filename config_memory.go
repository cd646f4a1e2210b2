package hearth

import (
	"fmt"
	"runtime"
	"strconv"

	"hearth.dev/hearth/core"
)

// MemoryConfig bounds the server's memory: the budget of its caches, and
// the Go garbage collector's settings of `hearth serve`.
type MemoryConfig struct {
	// CacheBytes is the memory the caches may hold together (parsed
	// events, state groups' states, rooms' DAG tips, the auth chain
	// index), in bytes; 0: core.DefaultCacheBudget natively,
	// core.BrowserCacheBudget in the browser.
	CacheBytes string `yaml:"cache_bytes"`
	// Limit is `hearth serve`'s soft memory limit (Go's GOMEMLIMIT), in
	// bytes; 0: DefaultMemoryLimit of the cache budget; "off": none. GOMEMLIMIT in the
	// environment wins.
	Limit string `yaml:"limit"`
	// GCPercent is `hearth serve`'s GOGC: the heap grows by this percent of
	// the live heap between collections; "off": only the limit triggers
	// collections. GOGC in the environment wins.
	GCPercent string `yaml:"gc_percent"`
}

// DefaultMemoryLimit is `hearth serve`'s soft memory limit when
// memory.limit is 0: twice the cache budget plus 40 MiB, 72 MiB with the
// default budget. The live heap is about the budget plus what is not
// cached (12-20 MiB in the soak, with up to two password hashes of 19 MiB
// at logins), and GOGC 100 lets the heap grow to twice that between
// collections; near the limit the runtime collects sooner and gives idle
// memory back at once, where without it a heap that once grew stays
// resident. Measured in the soak, side by side (load 15-30): the Go
// runtime's memory (mapped, not returned) reached 64-66 MiB by minute 10
// and still grew with the rooms (the process's RSS is that plus ~23 MiB
// of the binary's pages and ~9 MiB of SQLite's); a 48 MiB limit held the
// RSS at 76 MiB against 86-89 MiB but more than doubled the collector's
// CPU (12 % of all samples against 5 %), as the heap's goal came within
// 1.3x of the live heap. With 72 MiB the limit already sets the goal
// from the soak's third minute: the runtime's other memory (spans, GC
// metadata, profiling buckets, free pages not yet returned) takes ~20
// MiB of it, so the goal stays at ~52 MB while the live heap grows from
// 26 to 29 MB over minutes 2-8 (about 200 bytes per room made, over
// half of them the user's room list), and collections per 1,000 operations rise
// from 4.1 to 4.75 (8-minute soaks, load 7-13). Each MB taken off the
// live heap is a MB more between collections; a higher limit would
// raise the RSS by as much.
// The limit is soft: a larger live heap (a thumbnail of an image near
// core/thumbnail's MaxPixels decodes to up to 128 MiB of pixels) goes
// past it, with the collector running often (at most half the CPU, the
// Go runtime's cap) while it lives; raise memory.limit where such
// uploads are common.
func DefaultMemoryLimit(budget core.CacheBudget) int64 {
	return 2 * (int64(budget) + 20<<20)
}

func (c *MemoryConfig) keys() []ConfigKey {
	return []ConfigKey{
		{"memory.cache_bytes", &c.CacheBytes, "memory the caches may hold together, in bytes (0: 16 MiB natively, 8 MiB in a browser tab)"},
		{"memory.limit", &c.Limit, "hearth serve's soft memory limit (GOMEMLIMIT), in bytes (0: twice the cache budget plus 40 MiB, 72 MiB by default; off: none); GOMEMLIMIT set in the environment wins"},
		{"memory.gc_percent", &c.GCPercent, "hearth serve's GOGC (heap growth between collections, in percent; off: only the limit); GOGC set in the environment wins"},
	}
}

func (c *MemoryConfig) validate() error {
	if n, err := strconv.ParseInt(c.CacheBytes, 10, 64); err != nil || n < 0 {
		return fmt.Errorf("config: memory.cache_bytes is %q; it must be a number of bytes, 0 for the default", c.CacheBytes)
	}
	if _, err := c.MemoryLimit(); err != nil {
		return err
	}
	gogc, err := c.GOGC()
	if err != nil {
		return err
	}
	if limit, _ := c.MemoryLimit(); gogc < 0 && limit < 0 {
		return fmt.Errorf("config: memory.gc_percent and memory.limit are both off; the heap would never be collected")
	}
	return nil
}

// CacheBudget is memory.cache_bytes, or the platform's default.
func (c *MemoryConfig) CacheBudget() core.CacheBudget {
	n, _ := strconv.ParseInt(c.CacheBytes, 10, 64)
	def := core.DefaultCacheBudget
	if runtime.GOOS == "js" {
		def = core.BrowserCacheBudget
	}
	return core.CacheBudget(n).Or(def)
}

// MemoryLimit is memory.limit in bytes: DefaultMemoryLimit of the cache
// budget for 0, -1 for "off".
func (c *MemoryConfig) MemoryLimit() (int64, error) {
	if c.Limit == "off" {
		return -1, nil
	}
	n, err := strconv.ParseInt(c.Limit, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("config: memory.limit is %q; it must be a number of bytes, 0 for the default, or off", c.Limit)
	}
	if n == 0 {
		return DefaultMemoryLimit(c.CacheBudget()), nil
	}
	return n, nil
}

// GOGC is memory.gc_percent: a percent, or -1 for "off".
func (c *MemoryConfig) GOGC() (int, error) {
	if c.GCPercent == "off" {
		return -1, nil
	}
	n, err := strconv.Atoi(c.GCPercent)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("config: memory.gc_percent is %q; it must be a positive percent, or off", c.GCPercent)
	}
	return n, nil
}
