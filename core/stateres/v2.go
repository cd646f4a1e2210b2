package stateres

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// resolveV2 is state resolution v2 (room versions 2–11) and, with v21,
// v2.1 (room version 12): the conflicted state subgraph joins the full
// conflicted set, and the first iterative auth checks start from an empty
// state instead of the unconflicted state map.
func (r *resolver) resolveV2(stateSets []StateMap, v21 bool) (StateMap, error) {
	unconflicted, conflicted := separate(stateSets, true)
	if len(conflicted) == 0 {
		return unconflicted, nil
	}
	isConflicted := map[string]bool{}
	for _, ids := range conflicted {
		for _, id := range ids {
			isConflicted[id] = true
		}
	}
	g, diff, err := r.authGraph(stateSets, isConflicted)
	if err != nil {
		return nil, err
	}

	// The full conflicted set: the conflicted state set, the auth
	// difference and (v2.1) the conflicted state subgraph.
	full := map[*node]bool{}
	for id := range isConflicted {
		full[g.nodes[id]] = true
	}
	for _, n := range diff {
		full[n] = true
	}
	if v21 {
		for _, n := range g.conflictedSubgraph(isConflicted) {
			full[n] = true
		}
	}

	// 1. Select the set X of all power events that appear in the full
	// conflicted set. For each such power event P, enlarge X by adding the
	// events in the auth chain of P which also belong to the full conflicted
	// set. Sort X into a list using the reverse topological power ordering.
	inX := map[*node]bool{}
	var stack []*node
	for _, n := range g.order {
		if full[n] && isPowerEvent(n.ev) {
			stack = append(stack, n)
		}
	}
	visited := map[*node]bool{}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[n] {
			continue
		}
		visited[n] = true
		if full[n] {
			inX[n] = true
		}
		stack = append(stack, n.auth...)
	}
	var xs, rest []*node
	for _, n := range g.order {
		switch {
		case inX[n]:
			xs = append(xs, n)
		case full[n]:
			rest = append(rest, n)
		}
	}
	sortedX, err := r.powerSort(xs)
	if err != nil {
		return nil, err
	}

	// 2. Apply the iterative auth checks algorithm, starting from the
	// unconflicted state map (v2.1: from an empty state map), to the list of
	// events from the previous step to get a partially resolved state.
	state := StateMap{}
	if !v21 {
		state = copyState(unconflicted)
	}
	if err := r.iterativeAuth(state, sortedX); err != nil {
		return nil, err
	}

	// 3. Take all remaining events that weren't picked in step 1 and order
	// them by the mainline ordering based on the power level in the
	// partially resolved state obtained in step 2.
	sortedRest, err := r.mainlineSort(rest, state[StateKey{Type: eventauth.TypePowerLevels}])
	if err != nil {
		return nil, err
	}

	// 4. Apply the iterative auth checks algorithm on the partial resolved
	// state and the list of events from the previous step.
	if err := r.iterativeAuth(state, sortedRest); err != nil {
		return nil, err
	}

	// 5. Update the result by replacing any event with the event with the
	// same key from the unconflicted state map, if such an event exists, to
	// get the final resolved state.
	for k, id := range unconflicted {
		state[k] = id
	}
	return state, nil
}

// authGraph returns the auth graph the resolution works on and the auth
// difference of the state sets. With an index's answer for the difference
// the graph is the auth chains of the conflicted events and of the
// difference: every event of the difference is in the auth chain of a
// conflicted event (an unconflicted event is in every set, so its chain is
// in every Cᵢ), and the steps below only follow auth events from the full
// conflicted set. Without one, it is the auth chains of every event of
// every set, and the difference is computed on it.
func (r *resolver) authGraph(stateSets []StateMap, isConflicted map[string]bool) (*authGraph, []*node, error) {
	if r.authDiff != nil {
		ids, ok, err := r.authDiff(stateSets)
		if err != nil {
			return nil, nil, fmt.Errorf("stateres: auth difference: %w", err)
		}
		if ok {
			roots := slices.Concat(slices.Collect(maps.Keys(isConflicted)), ids)
			g, err := r.buildGraph(roots)
			if err != nil {
				return nil, nil, err
			}
			diff := make([]*node, len(ids))
			for i, id := range ids {
				diff[i] = g.nodes[id]
			}
			return g, diff, nil
		}
	}
	var roots []string
	for _, s := range stateSets {
		for _, id := range s {
			roots = append(roots, id)
		}
	}
	g, err := r.buildGraph(roots)
	if err != nil {
		return nil, nil, err
	}
	return g, g.authDifference(stateSets), nil
}

// isPowerEvent: a state event with type m.room.power_levels or
// m.room.join_rules, or an m.room.member whose membership is leave or ban
// and whose sender does not match the state_key.
func isPowerEvent(e *pdu.PDU) bool {
	if e.StateKey == nil {
		return false
	}
	switch e.Type {
	case eventauth.TypePowerLevels, eventauth.TypeJoinRules:
		return true
	case eventauth.TypeMember:
		m := membership(e)
		return (m == eventauth.MembershipLeave || m == eventauth.MembershipBan) && e.Sender != *e.StateKey
	}
	return false
}

// iterativeAuth applies events, in order, to state: each event that the
// authorisation rules allow against state replaces its key. A key the rules
// need but state lacks is taken from the event's auth events, unless that
// auth event was rejected. In room version 12 the create event is the one
// the room ID names.
func (r *resolver) iterativeAuth(state StateMap, events []*node) error {
	createKey := StateKey{Type: eventauth.TypeCreate}
	for _, n := range events {
		e := n.ev
		key, ok := stateKeyOf(e)
		if !ok {
			continue
		}
		fromAuth := make(map[StateKey]*pdu.PDU, len(n.auth))
		for _, a := range n.auth {
			if k, ok := stateKeyOf(a.ev); ok && a.ev.Internal.Rejected == "" {
				fromAuth[k] = a.ev
			}
		}
		lookup := func(k StateKey) (*pdu.PDU, error) {
			if k == createKey && r.v.RoomIDFromCreateEvent {
				return r.createOf(e)
			}
			if id, ok := state[k]; ok {
				return r.get(id)
			}
			return fromAuth[k], nil
		}
		err := eventauth.Authorize(r.v, e, lookup, r.auth)
		switch {
		case err == nil:
			state[key] = n.id
		case errors.Is(err, eventauth.ErrUnauthorized):
			// Not allowed: the event is ignored.
		default:
			return err
		}
	}
	return nil
}
