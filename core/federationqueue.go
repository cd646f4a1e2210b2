package core

import (
	"context"
	"encoding/json"
)

// QueuedPDU is a local event waiting to be sent to one destination.
type QueuedPDU struct {
	// Position is the event's stream ordering: the queue's order.
	Position int64
	RoomID   string
	EventID  string
	// JSON is the event in federation format.
	JSON json.RawMessage
}

// QueuedEDU is an ephemeral event waiting to be sent to one destination.
type QueuedEDU struct {
	// Position orders a destination's EDUs.
	Position int64
	Type     string
	Content  json.RawMessage
}

// OutboundBatch is what one transaction to a destination carries.
type OutboundBatch struct {
	PDUs []QueuedPDU
	EDUs []QueuedEDU
}

// Empty reports whether the batch carries nothing.
func (b OutboundBatch) Empty() bool { return len(b.PDUs) == 0 && len(b.EDUs) == 0 }

// DestinationRetry is how sending to a destination has been going (Synapse's
// destinations table).
type DestinationRetry struct {
	Destination string
	// FailureTS is when the current run of failures began (0 when the last
	// transaction went through).
	FailureTS int64
	// RetryLastTS is when the last failed attempt was, RetryInterval how
	// long to wait after it (milliseconds; 0 when not backing off).
	RetryLastTS   int64
	RetryInterval int64
}

// QueueWaiting says which of a FederationQueueStore's queueing steps has
// something recorded since its last call.
type QueueWaiting struct {
	Events, DeviceLists, Presence bool
}

// FederationQueueStore persists what the federation sender has to send, so
// that a restart, or a kill -9, loses nothing that was queued.
type FederationQueueStore interface {
	// QueueWaiting tells, in one read, which of QueueNewEvents,
	// QueueDeviceListUpdates and QueuePresenceUpdates has anything to do:
	// most of the sender's wake-ups follow a change none of them cares
	// about. Those three make no check of their own before their write
	// transaction: call one when QueueWaiting says it has work, or when
	// its last call said more waits. Called without work, it queues
	// nothing.
	QueueWaiting(ctx context.Context) (QueueWaiting, error)
	// QueueNewEvents moves at most limit events, of those persisted since
	// the last call, into the queues of the servers they go to, and
	// advances the sender's position past them, in one transaction. The
	// events are the local users' live events that were accepted (not
	// outliers, not rejected, not soft-failed); they go to every other
	// server with a member joined to the room in its current state, and for
	// a membership event to the target's server too. It returns the
	// destinations that got something, and whether more events wait.
	QueueNewEvents(ctx context.Context, limit int) (destinations []string, more bool, err error)
	// QueueDeviceListUpdates turns at most limit changes of local users'
	// devices (created, renamed, re-keyed, deleted), of those recorded
	// since the last call, into m.device_list_update EDUs queued for every
	// other server sharing a room with the user, each naming the user's
	// previous change in prev_id, and advances past them, in one
	// transaction. It returns the destinations that got something, and
	// whether more changes wait.
	QueueDeviceListUpdates(ctx context.Context, limit int) (destinations []string, more bool, err error)
	// QueuePresenceUpdates queues, for each local user whose presence
	// changed since the last call (at most limit users), an m.presence EDU
	// with their current presence for every other server sharing a room
	// with them, replacing one of theirs still queued there, and advances
	// past them, in one transaction. It returns the destinations that got
	// something, and whether more changes wait.
	QueuePresenceUpdates(ctx context.Context, limit int) (destinations []string, more bool, err error)
	// QueueEDU adds an EDU to destination's queue.
	QueueEDU(ctx context.Context, destination, eduType string, content json.RawMessage) error
	// NextBatch returns the oldest at most maxPDUs PDUs and maxEDUs EDUs
	// queued for destination (an empty batch when there are none).
	NextBatch(ctx context.Context, destination string, maxPDUs, maxEDUs int) (OutboundBatch, error)
	// BatchSent removes a batch destination took and clears its retry
	// state.
	BatchSent(ctx context.Context, destination string, b OutboundBatch) error
	// SendFailed records a failed attempt at nowMS, after which the sender
	// waits interval milliseconds.
	SendFailed(ctx context.Context, destination string, nowMS, interval int64) error
	// ResetRetry clears destination's retry state (it reached us, so it is
	// up).
	ResetRetry(ctx context.Context, destination string) error
	// Retry returns destination's retry state (zero for one never seen).
	Retry(ctx context.Context, destination string) (DestinationRetry, error)
	// CatchUp keeps, of the PDUs queued for destination, only the newest
	// of each room: after a long outage the destination gets those and
	// fetches what it lacks with get_missing_events. It returns how many
	// were dropped.
	CatchUp(ctx context.Context, destination string) (int, error)
	// PendingDestinations returns the destinations with something queued,
	// with their retry state.
	PendingDestinations(ctx context.Context) ([]DestinationRetry, error)
}
