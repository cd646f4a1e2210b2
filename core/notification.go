package core

import (
	"context"
	"encoding/json"
	"log/slog"

	"hearth.dev/hearth/core/push"
)

// PushHook is the PersistHook of push: each live event that reaches a
// room's timeline (not backfilled, not an outlier, not rejected nor soft
// failed) goes through Push's rules for the room's local members; a batch
// that changes a room's current state makes Push forget what it read of
// that room first. Failures are logged: the events are stored all the
// same.
type PushHook struct {
	Push *push.Service
	// Logger receives push failures; nil uses slog.Default().
	Logger *slog.Logger
}

var _ PersistHook = PushHook{}

// EventsPersisted implements PersistHook.
func (h PushHook) EventsPersisted(ctx context.Context, events []NewEvent, opts PersistOptions) {
	for _, d := range opts.CurrentState {
		if len(d.Changes) > 0 {
			h.Push.Forget(d.RoomID)
		}
	}
	if opts.Backfilled {
		return
	}
	for i := range events {
		ev := &events[i]
		if ev.Outlier || ev.Rejected != "" || ev.SoftFailed {
			continue
		}
		if err := h.Push.Push(ctx, ev.RoomID, ev.EventID, ev.JSON); err != nil {
			log := h.Logger
			if log == nil {
				log = slog.Default()
			}
			log.ErrorContext(ctx, "push rules on a new event", "event_id", ev.EventID, "room_id", ev.RoomID, "err", err)
		}
	}
}

// PushState reads what push needs of a room's current state from the
// stores: the room's version and the current state events of the types
// asked for. It returns an error wrapping ErrNotFound for an unknown room.
func PushState(rooms RoomStore, state RoomStateStore, events EventStore) push.StateFunc {
	return func(ctx context.Context, roomID string, types []string) (string, []push.StateEvent, error) {
		info, err := rooms.Room(ctx, roomID)
		if err != nil {
			return "", nil, err
		}
		current, err := state.CurrentState(ctx, roomID, StateTypes(types...))
		if err != nil {
			return "", nil, err
		}
		ids := make([]string, 0, len(current))
		for _, id := range current {
			ids = append(ids, id)
		}
		stored, err := events.Events(ctx, ids)
		if err != nil {
			return "", nil, err
		}
		out := make([]push.StateEvent, 0, len(current))
		for key, id := range current {
			if se := stored[id]; se != nil {
				out = append(out, push.StateEvent{Type: key.Type, StateKey: key.StateKey, JSON: se.JSON})
			}
		}
		return info.RoomVersion, out, nil
	}
}

// UnreadCounts are unread notification counts: all notifying events, and
// those with the highlight tweak.
type UnreadCounts struct {
	Notifications int64
	Highlights    int64
}

// Notification is one entry of GET /notifications.
type Notification struct {
	RoomID     string
	EventID    string
	Actions    []json.RawMessage
	ProfileTag string
	Read       bool
	TS         int64
	// Stream is the position of the event, the pagination key.
	Stream int64
}

// ClientEventsFunc returns events by ID in the client event format as
// userID may see them (redactions applied), keyed by event ID; events that
// are unknown or not visible are left out.
type ClientEventsFunc func(ctx context.Context, userID string, eventIDs []string) (map[string]json.RawMessage, error)

// NotificationStore counts and lists the notifications push.Service
// recorded (storage implements push.Recorder too). Counts are reset by
// the user's m.read and m.read.private receipts (the further of the two),
// per thread for threaded receipts.
type NotificationStore interface {
	// UnreadTotal returns userID's count of unread notifications in all
	// rooms (the unread count push gateways get).
	UnreadTotal(ctx context.Context, userID string) (int64, error)
	// Notifications lists userID's notifications, newest first, before
	// stream position from (0: from the newest), at most limit; only
	// "highlight" keeps highlighted ones. It also returns the position to
	// continue from (0 when there are no more).
	Notifications(ctx context.Context, userID string, from int64, limit int, only string) ([]Notification, int64, error)
}
