package lru

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the obvious implementation: keys in order of use, most recent
// first.
type model struct {
	max   int64
	order []int
	vals  map[int]int
	sizes map[int]int64
}

func (m *model) bytes() int64 {
	var n int64
	for _, k := range m.order {
		n += m.sizes[k]
	}
	return n
}

func (m *model) touch(k int) {
	m.order = slices.DeleteFunc(m.order, func(x int) bool { return x == k })
	m.order = slices.Insert(m.order, 0, k)
}

func (m *model) remove(k int) {
	m.order = slices.DeleteFunc(m.order, func(x int) bool { return x == k })
	delete(m.vals, k)
	delete(m.sizes, k)
}

func (m *model) put(k, v int, size int64) {
	m.remove(k)
	size += EntryOverhead
	if size > m.max {
		return
	}
	m.vals[k], m.sizes[k] = v, size
	m.touch(k)
	for m.bytes() > m.max {
		m.remove(m.order[len(m.order)-1])
	}
}

func TestCacheAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const max = 20 * (EntryOverhead + 50)
	c := &Cache[int, int]{Max: max}
	m := &model{max: max, vals: map[int]int{}, sizes: map[int]int64{}}
	for i := range 20000 {
		k := rng.IntN(60)
		switch op := rng.IntN(10); {
		case op < 5:
			// Now and then an entry too large to store.
			size := int64(rng.IntN(100))
			if rng.IntN(50) == 0 {
				size = max
			}
			c.Put(k, i, size)
			m.put(k, i, size)
		case op < 9:
			v, ok := c.Get(k)
			mv, mok := m.vals[k]
			if ok != mok || v != mv {
				t.Fatalf("step %d: Get(%d) = %d, %v; want %d, %v", i, k, v, ok, mv, mok)
			}
			if ok {
				m.touch(k)
			}
		default:
			c.Remove(k)
			m.remove(k)
		}
		if c.Bytes() > max {
			t.Fatalf("step %d: %d bytes held, bound %d", i, c.Bytes(), max)
		}
		if c.Bytes() != m.bytes() || c.Len() != len(m.order) {
			t.Fatalf("step %d: %d entries, %d bytes; want %d, %d", i, c.Len(), c.Bytes(), len(m.order), m.bytes())
		}
	}
	// The recency order is the model's: walking from the most recent
	// entry gives the model's keys.
	var got []int
	for e := c.head.next; e != &c.head; e = e.next {
		got = append(got, e.key)
	}
	if !slices.Equal(got, m.order) {
		t.Fatalf("order %v, want %v", got, m.order)
	}
}

func TestCacheKeepsRecentlyUsed(t *testing.T) {
	c := &Cache[string, int]{Max: 3 * (EntryOverhead + 10)}
	c.Put("a", 1, 10)
	c.Put("b", 2, 10)
	c.Put("c", 3, 10)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a not kept")
	}
	c.Put("d", 4, 10) // drops b, the least recently used
	if _, ok := c.Peek("b"); ok {
		t.Error("b kept past the bound")
	}
	for k, want := range map[string]int{"a": 1, "c": 3, "d": 4} {
		if v, ok := c.Peek(k); !ok || v != want {
			t.Errorf("%s = %d, %v; want %d", k, v, ok, want)
		}
	}
	c.Clear()
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("after Clear: %d entries, %d bytes", c.Len(), c.Bytes())
	}
	c.Put("e", 5, 10)
	if v, ok := c.Get("e"); !ok || v != 5 {
		t.Fatalf("after Clear, e = %d, %v", v, ok)
	}
}

func TestZeroCacheHoldsNothing(t *testing.T) {
	var c Cache[int, int]
	c.Put(1, 1, 0)
	if _, ok := c.Get(1); ok || c.Bytes() != 0 {
		t.Fatal("a cache without a bound stored an entry")
	}
}
