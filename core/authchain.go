package core

import "context"

// AuthChainStore answers auth chain questions from storage's index of the
// auth DAG instead of walking auth_events event by event. The auth chain of
// an event is every event reachable from it through auth_events, the event
// itself left out (state resolution v2's definition).
//
// Only state events are indexed (only state events can be auth events): the
// auth chain of a message event is its auth events and their auth chains.
// An event is answered for once storage holds it and every event of its
// auth chain; until then (an auth event not received yet, an old database
// still indexing in the background) the methods return ok false, and the
// caller walks the chain itself.
type AuthChainStore interface {
	// AuthChain returns the union of the auth chains of eventIDs, in no
	// particular order. An event of eventIDs is in the answer only if
	// another one's chain holds it.
	AuthChain(ctx context.Context, eventIDs []string) (ids []string, ok bool, err error)
	// AuthChainDifference returns the auth difference of the state sets:
	// the events in the auth chain of some set but not of all, ∪Cᵢ − ∩Cᵢ
	// with Cᵢ the union of the auth chains of set i's events.
	AuthChainDifference(ctx context.Context, sets []AuthChainSet) (ids []string, ok bool, err error)
}

// AuthChainSet is a state set as AuthChainDifference takes it.
type AuthChainSet struct {
	// Events are the set's events: their auth chains are the set's.
	Events []string
	// Chain are events that belong to the set's auth chain themselves,
	// with their own auth chains: the auth events of a set's event that
	// storage does not hold yet (an event being received), in its place.
	Chain []string
}
