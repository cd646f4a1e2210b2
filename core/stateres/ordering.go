package stateres

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"strings"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// powerSort orders xs by the reverse topological power ordering: the
// lexicographically smallest topological order of the DAG their auth
// events form among themselves, earliest first, found with Kahn's
// algorithm picking at each step the candidate whose sender has the
// greatest power level (by the event's own auth events), then the smallest
// origin_server_ts, then the smallest event ID.
func (r *resolver) powerSort(xs []*node) ([]*node, error) {
	in := make(map[*node]bool, len(xs))
	for _, n := range xs {
		in[n] = true
	}
	h := &powerHeap{power: make(map[*node]int64, len(xs))}
	pending := make(map[*node]int, len(xs))
	for _, n := range xs {
		p, err := r.senderPower(n)
		if err != nil {
			return nil, err
		}
		h.power[n] = p
		for _, a := range n.auth {
			if in[a] {
				pending[n]++
			}
		}
	}
	for _, n := range xs {
		if pending[n] == 0 {
			h.nodes = append(h.nodes, n)
		}
	}
	heap.Init(h)
	out := make([]*node, 0, len(xs))
	for h.Len() > 0 {
		n := heap.Pop(h).(*node)
		out = append(out, n)
		for _, c := range n.citedBy {
			if !in[c] {
				continue
			}
			pending[c]--
			if pending[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	if len(out) != len(xs) {
		return nil, fmt.Errorf("%w among power events", ErrAuthCycle)
	}
	return out, nil
}

type powerHeap struct {
	nodes []*node
	power map[*node]int64
}

func (h *powerHeap) Len() int { return len(h.nodes) }
func (h *powerHeap) Less(i, j int) bool {
	x, y := h.nodes[i], h.nodes[j]
	if px, py := h.power[x], h.power[y]; px != py {
		return px > py
	}
	if x.ev.OriginServerTS != y.ev.OriginServerTS {
		return x.ev.OriginServerTS < y.ev.OriginServerTS
	}
	return x.id < y.id
}
func (h *powerHeap) Swap(i, j int) { h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i] }
func (h *powerHeap) Push(x any)    { h.nodes = append(h.nodes, x.(*node)) }
func (h *powerHeap) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}

// senderPower is the power level of n's sender according to n's auth
// events (and, in room version 12, the create event named by the room ID).
func (r *resolver) senderPower(n *node) (int64, error) {
	var pl, create *pdu.PDU
	for _, a := range n.auth {
		if a.ev.StateKey == nil || *a.ev.StateKey != "" {
			continue
		}
		switch a.ev.Type {
		case eventauth.TypePowerLevels:
			pl = a.ev
		case eventauth.TypeCreate:
			create = a.ev
		}
	}
	if r.v.RoomIDFromCreateEvent {
		c, err := r.createOf(n.ev)
		if err != nil {
			return 0, err
		}
		create = c
	}
	return eventauth.UserPowerLevel(r.v, n.ev.Sender, pl, create), nil
}

// createOf returns the create event of e's room in room version 12, where
// the room ID is the create event's ID with another sigil.
func (r *resolver) createOf(e *pdu.PDU) (*pdu.PDU, error) {
	if e.Type == eventauth.TypeCreate && e.RoomID == "" {
		return e, nil
	}
	if !strings.HasPrefix(e.RoomID, "!") {
		return nil, fmt.Errorf("%w: create event of room %q", ErrEventNotFound, e.RoomID)
	}
	return r.get("$" + e.RoomID[1:])
}

// powerLevelsOf returns the ID of the m.room.power_levels event among e's
// auth events, "" if there is none.
func (r *resolver) powerLevelsOf(e *pdu.PDU) (string, error) {
	for _, id := range e.AuthEvents {
		a, err := r.get(id)
		if err != nil {
			return "", err
		}
		if a.Type == eventauth.TypePowerLevels && a.StateKey != nil && *a.StateKey == "" {
			return id, nil
		}
	}
	return "", nil
}

const notOnMainline = math.MaxInt

// mainlineSort orders events by the mainline ordering based on the power
// levels event pl ("" for none): events whose power levels chain meets the
// mainline further back come first, events that do not meet it at all
// first of all; then by origin_server_ts, then by event ID.
func (r *resolver) mainlineSort(events []*node, pl string) ([]*node, error) {
	mainline := map[string]int{}
	seen := map[string]bool{}
	for i, p := 0, pl; p != ""; i++ {
		if seen[p] {
			return nil, fmt.Errorf("%w in the power levels mainline", ErrAuthCycle)
		}
		seen[p] = true
		mainline[p] = i
		e, err := r.get(p)
		if err != nil {
			return nil, err
		}
		if p, err = r.powerLevelsOf(e); err != nil {
			return nil, err
		}
	}
	// positions caches, for a power levels event p, the mainline position of
	// an event whose auth events name p.
	positions := map[string]int{}
	var chainPosition func(p string, depth int) (int, error)
	chainPosition = func(p string, depth int) (int, error) {
		if p == "" {
			return notOnMainline, nil
		}
		if i, ok := mainline[p]; ok {
			return i, nil
		}
		if i, ok := positions[p]; ok {
			return i, nil
		}
		if depth > len(r.events)+1 {
			return 0, fmt.Errorf("%w in a power levels chain", ErrAuthCycle)
		}
		e, err := r.get(p)
		if err != nil {
			return 0, err
		}
		next, err := r.powerLevelsOf(e)
		if err != nil {
			return 0, err
		}
		i, err := chainPosition(next, depth+1)
		if err != nil {
			return 0, err
		}
		positions[p] = i
		return i, nil
	}
	pos := make(map[*node]int, len(events))
	for _, n := range events {
		p, err := r.powerLevelsOf(n.ev)
		if err != nil {
			return nil, err
		}
		if pos[n], err = chainPosition(p, 0); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(events)
	slices.SortFunc(out, func(x, y *node) int {
		if pos[x] != pos[y] {
			if pos[x] > pos[y] {
				return -1
			}
			return 1
		}
		if x.ev.OriginServerTS != y.ev.OriginServerTS {
			if x.ev.OriginServerTS < y.ev.OriginServerTS {
				return -1
			}
			return 1
		}
		return strings.Compare(x.id, y.id)
	})
	return out, nil
}
