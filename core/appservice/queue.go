package appservice

import (
	"context"
	"encoding/json"
)

// StreamEvent is a live event as the application service sender reads it
// from the event stream.
type StreamEvent struct {
	// Stream is the event's stream ordering: the queue's order.
	Stream   int64
	RoomID   string
	Sender   string
	Type     string
	StateKey *string
	// JSON is the event in the client format a transaction carries.
	JSON json.RawMessage
}

// Position is a service's place in its queue.
type Position struct {
	// Stream is the stream ordering of the last event the service has
	// accepted, or skipped as of no interest.
	Stream int64
	// TxnID is the ID of the service's next transaction.
	TxnID int64
	// Pending, when not nil, bounds transaction TxnID, already sent at
	// least once and not yet accepted: it is sent again with the same
	// content.
	Pending *Pending
}

// Pending bounds a transaction in flight: the events of interest after
// Position.Stream up to Stream, and the ephemeral events up to
// Ephemeral (0: none).
type Pending struct {
	Stream, Ephemeral int64
}

// EphemeralEvent is an ephemeral event (typing, receipt, presence)
// queued for a service.
type EphemeralEvent struct {
	// ID orders a service's ephemeral queue.
	ID   int64
	JSON json.RawMessage
}

// QueueStore persists each service's queue: its place in the event
// stream (the events after it that interest the service are what it has
// still to receive), the ephemeral events queued for it, and the bounds
// of its transaction in flight, so a restart, or a kill -9, loses
// nothing and a retried transaction carries what its first try did.
type QueueStore interface {
	// Position returns service's place. A service seen for the first
	// time starts after the events already stored (they are history to
	// it) with transaction 1.
	Position(ctx context.Context, service string) (Position, error)
	// EventsAfter returns at most limit accepted live events (not
	// outliers, not rejected, not soft-failed) after stream, in stream
	// order.
	EventsAfter(ctx context.Context, stream int64, limit int) ([]StreamEvent, error)
	// QueueEphemeral adds event at the end of the ephemeral queue of
	// each of services, dropping a service's oldest past max.
	QueueEphemeral(ctx context.Context, services []string, event json.RawMessage, max int) error
	// Ephemeral returns at most limit ephemeral events queued for
	// service, oldest first, with IDs up to upTo (0: any).
	Ephemeral(ctx context.Context, service string, upTo int64, limit int) ([]EphemeralEvent, error)
	// Pend records the bounds of service's transaction in flight (its
	// next transaction ID), before it is first sent.
	Pend(ctx context.Context, service string, p Pending) error
	// Advance records that service accepted its transaction in flight,
	// or had nothing to receive up to stream: its place moves to stream,
	// its next transaction ID to txnID, its ephemeral events up to
	// ephemeral (0: none) leave its queue, and it has no transaction in
	// flight.
	Advance(ctx context.Context, service string, stream, txnID, ephemeral int64) error
	// RoomMembers returns the users joined to roomID in its current state.
	RoomMembers(ctx context.Context, roomID string) ([]string, error)
	// RoomAliases returns the local aliases of roomID.
	RoomAliases(ctx context.Context, roomID string) ([]string, error)
}

// Interested reports whether the service wants ev (application service
// API, "Pushing events"): its sender or state key is one of the
// service's local users, the room ID is in its room namespaces, one of
// the room's aliases is in its alias namespaces, or one of the room's
// joined members is one of its local users. A user of another server
// never counts, whatever the namespaces' regexes match. members and
// aliases are looked up only when needed.
func (r *Registration) Interested(ev StreamEvent, members, aliases func() []string) bool {
	if r.HasLocalUser(ev.Sender) || ev.StateKey != nil && r.HasLocalUser(*ev.StateKey) || r.IsRoom(ev.RoomID) {
		return true
	}
	if len(r.Namespaces.Aliases) > 0 {
		for _, a := range aliases() {
			if r.IsAlias(a) {
				return true
			}
		}
	}
	for _, m := range members() {
		if r.HasLocalUser(m) {
			return true
		}
	}
	return false
}

// Requester makes the homeserver's requests of an application service
// (the outbound package appservice implements it).
type Requester interface {
	// Ping is POST /_matrix/app/v1/ping; it returns how long the service
	// took, in milliseconds, or an error that is a core Matrix error for
	// the client (M_URL_NOT_SET, M_BAD_STATUS, M_CONNECTION_FAILED,
	// M_CONNECTION_TIMEOUT).
	Ping(ctx context.Context, r *Registration, txnID string) (int64, error)
	// QueryUser is GET /_matrix/app/v1/users/{userId}: true when the
	// service says the user exists (it has created it).
	QueryUser(ctx context.Context, r *Registration, userID string) (bool, error)
	// QueryAlias is GET /_matrix/app/v1/rooms/{roomAlias}: true when the
	// service says the alias exists (it has created it).
	QueryAlias(ctx context.Context, r *Registration, alias string) (bool, error)
	// ThirdParty is GET /_matrix/app/v1/thirdparty/{path} with query: the
	// service's JSON answer.
	ThirdParty(ctx context.Context, r *Registration, path string, query map[string][]string) (json.RawMessage, error)
}
