// Package stateres resolves conflicting room states: the state resolution
// algorithms of Matrix room version 1 (rooms/v1.md), version 2 (room
// versions 2–11, rooms/fragments/v2-state-res.md) and version 2.1 (room
// version 12, rooms/v12.md "State resolution").
//
// Resolve is pure: events are read through a function-typed fetch, and the
// authorisation rules come from core/eventauth. Auth chains are computed by
// walking auth_events from the events of the state sets, so fetch must be
// able to return every event of those auth chains; given an auth
// difference from an index (Options.AuthDifference), v2 walks only the
// auth chains of the conflicted events and of that difference.
//
// Importing the package has no side effects.
package stateres

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// StateKey identifies one piece of room state.
type StateKey = eventauth.StateKey

// StateMap maps state keys to event IDs.
type StateMap = map[StateKey]string

// FetchFunc returns the event with the given ID, or (nil, nil) if it is
// unknown. Events must have EventID set.
type FetchFunc func(eventID string) (*pdu.PDU, error)

// ErrEventNotFound is returned (wrapped) when an event of a state set or
// of an auth chain cannot be fetched.
var ErrEventNotFound = errors.New("stateres: event not found")

// ErrAuthCycle is returned when the auth events of the events involved
// form a cycle, which no valid room has.
var ErrAuthCycle = errors.New("stateres: auth events form a cycle")

// Options tunes a resolution. A nil *Options is the zero value.
type Options struct {
	// Auth is passed to eventauth.Authorize in the auth checks.
	Auth *eventauth.Options
	// AuthDifference, when set, gives the auth difference of the state
	// sets (state resolution v2) from an index, with ok false when the
	// index cannot answer. With an answer, only the auth chains of the
	// conflicted events and of the auth difference are fetched, instead
	// of the auth chains of every event of every state set.
	AuthDifference func(stateSets []StateMap) (ids []string, ok bool, err error)
	// FetchMany, when set, fetches events in bulk (unknown IDs left out):
	// auth chains are then fetched a level at a time.
	FetchMany func(ids []string) (map[string]*pdu.PDU, error)
}

// Resolve returns the resolution of stateSets in room version v, by the
// algorithm the version names. The result holds every key of the
// unconflicted state and the keys of conflicted state whose events pass the
// checks. The input maps are not modified, and the result does not depend
// on their order.
func Resolve(v *roomversion.Version, stateSets []StateMap, fetch FetchFunc, opts *Options) (StateMap, error) {
	if v == nil || fetch == nil {
		return nil, errors.New("stateres: Resolve needs a room version and a fetch function")
	}
	r := &resolver{v: v, fetch: fetch, events: map[string]*pdu.PDU{}}
	if opts != nil {
		r.auth, r.authDiff, r.fetchMany = opts.Auth, opts.AuthDifference, opts.FetchMany
	}
	switch v.StateRes {
	case roomversion.StateResV1:
		return r.resolveV1(stateSets)
	case roomversion.StateResV2, roomversion.StateResV21:
		return r.resolveV2(stateSets, v.StateRes == roomversion.StateResV21)
	}
	return nil, fmt.Errorf("stateres: room version %s has no state resolution algorithm", v.ID)
}

// resolver holds one resolution's event cache.
type resolver struct {
	v         *roomversion.Version
	fetch     FetchFunc
	auth      *eventauth.Options
	authDiff  func([]StateMap) ([]string, bool, error)
	fetchMany func([]string) (map[string]*pdu.PDU, error)
	events    map[string]*pdu.PDU
}

func (r *resolver) get(id string) (*pdu.PDU, error) {
	if e, ok := r.events[id]; ok {
		return e, nil
	}
	e, err := r.fetch(id)
	if err != nil {
		return nil, fmt.Errorf("stateres: fetching %s: %w", id, err)
	}
	if e == nil {
		return nil, fmt.Errorf("%w: %s", ErrEventNotFound, id)
	}
	r.events[id] = e
	return e, nil
}

// separate splits the state sets into the unconflicted state map and the
// conflicted state set (as event IDs, sorted). A key is unconflicted when
// every set holds it with the same event. keyMissingConflicts is false
// for room version 1, where only differing event IDs conflict.
func separate(stateSets []StateMap, keyMissingConflicts bool) (StateMap, map[StateKey][]string) {
	unconflicted := StateMap{}
	conflicted := map[StateKey][]string{}
	keys := map[StateKey]bool{}
	for _, s := range stateSets {
		for k := range s {
			keys[k] = true
		}
	}
	for k := range keys {
		var ids []string
		missing := false
		for _, s := range stateSets {
			id, ok := s[k]
			if !ok {
				missing = true
				continue
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 1 && (!missing || !keyMissingConflicts) {
			unconflicted[k] = ids[0]
			continue
		}
		slices.Sort(ids)
		conflicted[k] = ids
	}
	return unconflicted, conflicted
}

func stateKeyOf(e *pdu.PDU) (StateKey, bool) {
	if e.StateKey == nil {
		return StateKey{}, false
	}
	return StateKey{Type: e.Type, StateKey: *e.StateKey}, true
}

func copyState(m StateMap) StateMap { return maps.Clone(m) }
