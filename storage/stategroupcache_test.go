package storage

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// checkStateCacheBound checks that the cache's counted bytes are the sum
// of its entries' estimates, within its bound, and that what its entries
// really hold (at least 64 bytes a state entry) fits the bound too.
func checkStateCacheBound(t *testing.T, c *stateCache, step int) {
	t.Helper()
	var sum int64
	entries := 0
	if c.lru == nil {
		if c.bytes != 0 {
			t.Fatalf("step %d: %d bytes counted in an empty cache", step, c.bytes)
		}
		return
	}
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*stateCacheEntry)
		sum += e.size
		entries += len(e.state)
	}
	if sum != c.bytes {
		t.Fatalf("step %d: %d bytes counted, entries hold %d", step, c.bytes, sum)
	}
	if c.bytes > c.maxBytes || int64(entries)*64 > c.maxBytes {
		t.Fatalf("step %d: %d bytes, %d state entries kept; bound %d bytes", step, c.bytes, entries, c.maxBytes)
	}
}

// TestStateCacheWithinBudget: a stream of snapshots and deltas (a growing
// room, forks, removals) keeps the cache within its bytes, and every
// state it answers is the group's.
func TestStateCacheWithinBudget(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	c := &stateCache{maxBytes: 48 << 10}
	model := map[int64]core.StateMap{}
	var groups []int64
	state := core.StateMap{}
	for i := range 4000 {
		g := int64(i + 1)
		switch {
		case i == 0 || rng.IntN(20) == 0:
			// A snapshot, sometimes too large for the cache.
			state = core.StateMap{}
			for j := range rng.IntN(1200) {
				state[core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@s%d:x", j)}] = fmt.Sprint("$s", i, "_", j)
			}
			c.remember([]newGroupState{{group: g, state: maps.Clone(state)}})
		default:
			prev := groups[len(groups)-1]
			if rng.IntN(4) == 0 {
				prev = groups[rng.IntN(len(groups))] // a fork
			}
			state = maps.Clone(model[prev])
			changes := core.StateMap{}
			for range 1 + rng.IntN(5) {
				k := core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", rng.IntN(300))}
				if _, ok := state[k]; ok && rng.IntN(3) == 0 {
					changes[k] = ""
					delete(state, k)
				} else {
					changes[k] = fmt.Sprint("$e", i)
					state[k] = changes[k]
				}
			}
			c.remember([]newGroupState{{group: g, prev: prev, state: changes}})
		}
		model[g] = state
		groups = append(groups, g)
		checkStateCacheBound(t, c, i)
		// Read a few groups back, whole or a few keys; the whole reads
		// replace deltas by whole states, which must stay within bounds.
		for range 3 {
			r := groups[rng.IntN(len(groups))]
			f := core.AllState
			if rng.IntN(2) == 0 {
				f = core.StateKeys(core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", rng.IntN(300))})
			}
			got, ok := c.lookup(r, f)
			if !ok {
				// Not cached: storage reads it and puts the whole state.
				c.put(r, maps.Clone(model[r]))
				checkStateCacheBound(t, c, i)
				continue
			}
			want := core.StateMap{}
			for k, v := range model[r] {
				if f.Match(k) {
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("step %d: cached state of group %d (-model +cached):\n%s", i, r, diff)
			}
			checkStateCacheBound(t, c, i)
		}
	}
}

// TestChainCacheWithinBudget: positions and reaches stay within the auth
// chain cache's bytes however many are put, and what it answers is what
// was put.
func TestChainCacheWithinBudget(t *testing.T) {
	c := &chainCache{maxBytes: 64 << 10}
	pos := func(i int) chainPos { return chainPos{chain: int64(i), seq: int64(i % 7)} }
	for i := range 20000 {
		id := fmt.Sprintf("$event%d", i)
		gen := c.generation()
		c.putPositions(gen, map[string]chainPos{id: pos(i)})
		r := map[int64]int64{}
		for j := range i % 50 {
			r[int64(j)] = int64(i)
		}
		c.putReaches(gen, map[chainPos]map[int64]int64{pos(i): r})
		if b := c.positions.Bytes() + c.reaches.Bytes(); b > c.maxBytes {
			t.Fatalf("after %d puts the cache holds %d bytes, bound %d", i+1, b, c.maxBytes)
		}
		// What the reaches really hold (16 bytes a pair) fits too.
		if i%500 == 0 {
			pairs := 0
			for j := range i + 1 {
				if r, ok := c.reaches.Peek(pos(j)); ok {
					pairs += len(r)
				}
			}
			if int64(pairs)*16 > c.maxBytes {
				t.Fatalf("after %d puts the cache keeps %d pairs", i+1, pairs)
			}
		}
		out := map[string]chainPos{}
		if missing := c.lookupPositions([]string{id, "$never"}, out); len(missing) != 1 || missing[0] != "$never" || out[id] != pos(i) {
			t.Fatalf("after putting %s: missing %v, found %v", id, missing, out)
		}
		known, missing := c.lookupReaches([]chainPos{pos(i)})
		if len(missing) != 0 || !maps.Equal(known[pos(i)], r) {
			t.Fatalf("reaches of %v: %v (missing %v), want %v", pos(i), known, missing, r)
		}
	}
	// A reset forgets everything, and a read begun before it adds nothing.
	gen := c.generation()
	c.reset()
	c.putPositions(gen, map[string]chainPos{"$late": pos(1)})
	out := map[string]chainPos{}
	if missing := c.lookupPositions([]string{"$event19999", "$late"}, out); len(missing) != 2 {
		t.Fatalf("after a reset: found %v", out)
	}
}
