// Package lru is a least-recently-used cache bounded in bytes: each entry
// is stored with an estimate of the memory it holds, and the oldest
// entries are dropped once the estimates add up past the cache's bound.
// The server's caches take their bound from one memory budget
// (core.CacheBudget), so what they hold together stays within it.
package lru

// EntryOverhead is what the cache itself spends on an entry besides the
// key and value's own estimate: its list node and its slot in the index.
const EntryOverhead = 96

// Cache maps keys to values, dropping the least recently used entries
// when their sizes (plus EntryOverhead each) add up past Max. It is not
// safe for concurrent use: its owner holds a lock around every call.
// The zero value holds nothing until Max is set.
type Cache[K comparable, V any] struct {
	// Max bounds Bytes. An entry larger than Max is not stored.
	Max   int64
	bytes int64
	index map[K]*entry[K, V]
	// head is a sentinel: head.next is the most recently used entry,
	// head.prev the least.
	head entry[K, V]
}

type entry[K comparable, V any] struct {
	key        K
	value      V
	size       int64
	prev, next *entry[K, V]
}

// Get returns the value of k and marks it most recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	e, ok := c.index[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.moveToFront(e)
	return e.value, true
}

// Peek returns the value of k without marking it used.
func (c *Cache[K, V]) Peek(k K) (V, bool) {
	e, ok := c.index[k]
	if !ok {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put stores v under k, size being the estimated bytes that k and v hold,
// replacing a value stored before, and drops the least recently used
// entries while the cache holds more than Max. A value whose size alone
// is over Max is not stored (and removes the key's old value).
func (c *Cache[K, V]) Put(k K, v V, size int64) {
	size += EntryOverhead
	if old, ok := c.index[k]; ok {
		c.unlink(old)
	}
	if size > c.Max {
		return
	}
	if c.index == nil {
		c.index = map[K]*entry[K, V]{}
		c.head.next, c.head.prev = &c.head, &c.head
	}
	e := &entry[K, V]{key: k, value: v, size: size}
	c.index[k] = e
	c.bytes += size
	c.pushFront(e)
	for c.bytes > c.Max {
		c.unlink(c.head.prev)
	}
}

// Remove drops k.
func (c *Cache[K, V]) Remove(k K) {
	if e, ok := c.index[k]; ok {
		c.unlink(e)
	}
}

// Clear drops every entry.
func (c *Cache[K, V]) Clear() {
	c.index = nil
	c.bytes = 0
	c.head = entry[K, V]{}
}

// Len is the number of entries.
func (c *Cache[K, V]) Len() int { return len(c.index) }

// Bytes is the sum of the entries' sizes, EntryOverhead included.
func (c *Cache[K, V]) Bytes() int64 { return c.bytes }

func (c *Cache[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *Cache[K, V]) moveToFront(e *entry[K, V]) {
	if c.head.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	c.pushFront(e)
}

func (c *Cache[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(c.index, e.key)
	c.bytes -= e.size
}

// StringBytes is the estimate for a string: its header and its bytes.
func StringBytes(s string) int64 { return 16 + int64(len(s)) }

// MapBytes estimates the memory of a Go map of n entries whose key and
// value take slot bytes together: a map of up to 8 entries is one group
// of 8 slots; a larger one has tables of a power of two slots, at most
// seven eighths full, each slot with a control byte.
func MapBytes(n int, slot int64) int64 {
	slots := int64(8)
	if n > 8 {
		want := (int64(n)*8 + 6) / 7
		for slots < want {
			slots *= 2
		}
	}
	return 48 + slots*(slot+1)
}
