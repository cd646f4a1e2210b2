package stateres

import (
	"fmt"
	"slices"

	"hearth.dev/hearth/core/pdu"
)

// node is one event of the auth graph.
type node struct {
	id      string
	ev      *pdu.PDU
	auth    []*node // the event's auth events
	citedBy []*node // events that list this one in auth_events

	direct  bitset // state sets holding this event as a value
	inChain bitset // state sets whose full auth chain holds this event

	fromConflicted bool // reachable by auth edges from a conflicted event
	toConflicted   bool // reaches a conflicted event by auth edges
}

// authGraph is every event reachable by auth_events from the events of the
// state sets.
type authGraph struct {
	nodes map[string]*node
	// order lists the nodes so that each comes after all of its auth events.
	order []*node
}

// buildGraph fetches roots and their auth chains.
func (r *resolver) buildGraph(roots []string) (*authGraph, error) {
	g := &authGraph{nodes: map[string]*node{}}
	// Breadth first, a level at a time, so that a bulk fetch gets each
	// level in one call.
	level := slices.Clone(roots)
	for len(level) > 0 {
		if err := r.prefetch(level); err != nil {
			return nil, err
		}
		var next []string
		for _, id := range level {
			if _, ok := g.nodes[id]; ok {
				continue
			}
			e, err := r.get(id)
			if err != nil {
				return nil, err
			}
			g.nodes[id] = &node{id: id, ev: e}
			for _, a := range e.AuthEvents {
				if _, ok := g.nodes[a]; !ok {
					next = append(next, a)
				}
			}
		}
		level = next
	}
	for _, n := range g.nodes {
		for _, a := range n.ev.AuthEvents {
			an := g.nodes[a]
			if slices.Contains(n.auth, an) {
				continue
			}
			n.auth = append(n.auth, an)
			an.citedBy = append(an.citedBy, n)
		}
	}
	// Kahn's algorithm, auth events first.
	pending := make(map[*node]int, len(g.nodes))
	var ready []*node
	for _, n := range g.nodes {
		pending[n] = len(n.auth)
		if len(n.auth) == 0 {
			ready = append(ready, n)
		}
	}
	g.order = make([]*node, 0, len(g.nodes))
	for len(ready) > 0 {
		n := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		g.order = append(g.order, n)
		for _, c := range n.citedBy {
			pending[c]--
			if pending[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(g.order) != len(g.nodes) {
		return nil, fmt.Errorf("%w among %d events", ErrAuthCycle, len(g.nodes)-len(g.order))
	}
	return g, nil
}

// prefetch puts the events among ids not fetched yet into the cache, in
// one bulk fetch when there is one.
func (r *resolver) prefetch(ids []string) error {
	if r.fetchMany == nil {
		return nil
	}
	var want []string
	for _, id := range ids {
		if _, ok := r.events[id]; !ok {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil
	}
	got, err := r.fetchMany(want)
	if err != nil {
		return fmt.Errorf("stateres: fetching %d events: %w", len(want), err)
	}
	for id, e := range got {
		if e != nil {
			r.events[id] = e
		}
	}
	return nil
}

// authDifference returns the events that are in some but not every state
// set's full auth chain: ∪Cᵢ − ∩Cᵢ, where Cᵢ is the union of the auth
// chains of the events of set i (an event's auth chain does not hold the
// event itself).
func (g *authGraph) authDifference(stateSets []StateMap) []*node {
	n := len(stateSets)
	for _, nd := range g.nodes {
		nd.direct = newBitset(n)
		nd.inChain = newBitset(n)
	}
	for i, s := range stateSets {
		for _, id := range s {
			g.nodes[id].direct.set(i)
		}
	}
	// Events that cite a node come before it in reverse order, so every
	// node's sets are complete before they are passed on.
	for i := len(g.order) - 1; i >= 0; i-- {
		nd := g.order[i]
		for _, a := range nd.auth {
			a.inChain.or(nd.inChain)
			a.inChain.or(nd.direct)
		}
	}
	var diff []*node
	for _, nd := range g.order {
		if !nd.inChain.empty() && !nd.inChain.full(n) {
			diff = append(diff, nd)
		}
	}
	return diff
}

// conflictedSubgraph returns the events on auth paths between two events
// of the conflicted state set, endpoints included (state resolution v2.1).
func (g *authGraph) conflictedSubgraph(conflicted map[string]bool) []*node {
	for i := len(g.order) - 1; i >= 0; i-- {
		nd := g.order[i]
		if conflicted[nd.id] || nd.fromConflicted {
			for _, a := range nd.auth {
				a.fromConflicted = true
			}
		}
	}
	for _, nd := range g.order {
		for _, a := range nd.auth {
			if conflicted[a.id] || a.toConflicted {
				nd.toConflicted = true
				break
			}
		}
	}
	var sub []*node
	for _, nd := range g.order {
		if conflicted[nd.id] || nd.fromConflicted && nd.toConflicted {
			sub = append(sub, nd)
		}
	}
	return sub
}

// bitset is a set of state set indexes.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int) { b[i/64] |= 1 << (i % 64) }

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// full reports whether all of 0..n-1 are set.
func (b bitset) full(n int) bool {
	for i := range b {
		want := ^uint64(0)
		if rest := n - 64*i; rest < 64 {
			want = 1<<rest - 1
		}
		if b[i]&want != want {
			return false
		}
	}
	return true
}
