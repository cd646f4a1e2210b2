package hearth

import (
	"testing"

	"hearth.dev/hearth/core"
)

func TestMemoryConfig(t *testing.T) {
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Memory.CacheBudget(); got != core.DefaultCacheBudget {
		t.Errorf("default cache budget %d, want %d", got, core.DefaultCacheBudget)
	}
	c.Memory.CacheBytes = "33554432"
	if got := c.Memory.CacheBudget(); got != 32<<20 {
		t.Errorf("cache budget %d, want 32 MiB", got)
	}
	if l, _ := c.Memory.MemoryLimit(); l != 104<<20 {
		t.Errorf("default limit %d with a 32 MiB budget, want 104 MiB", l)
	}
	c.Memory.CacheBytes = "0"
	if l, _ := c.Memory.MemoryLimit(); l != 72<<20 {
		t.Errorf("default limit %d, want 72 MiB", l)
	}
	for _, bad := range []MemoryConfig{
		{CacheBytes: "-1", Limit: "0", GCPercent: "100"},
		{CacheBytes: "64MiB", Limit: "0", GCPercent: "100"},
		{CacheBytes: "0", Limit: "-5", GCPercent: "100"},
		{CacheBytes: "0", Limit: "0", GCPercent: "0"},
		{CacheBytes: "0", Limit: "off", GCPercent: "off"},
	} {
		c.Memory = bad
		if err := c.Validate(); err == nil {
			t.Errorf("%+v was taken", bad)
		}
	}
	// Set by the environment like every key.
	c = DefaultConfig()
	c.LoadEnv(func(k string) (string, bool) {
		if k == "HEARTH_MEMORY_CACHE_BYTES" {
			return "2097152", true
		}
		return "", false
	})
	if got := c.Memory.CacheBudget(); got != 2<<20 {
		t.Errorf("HEARTH_MEMORY_CACHE_BYTES gave %d", got)
	}
}
