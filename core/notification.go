package core

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"time"

	"hearth.dev/hearth/core/push"
)

// PushHook is the PersistPreparer of push: before a batch is stored, each
// live event that reaches a room's timeline (not backfilled, not an
// outlier, not rejected nor soft failed) goes through Push's rules for the
// room's local members, and the notifications ride with the event into its
// own write (NewEvent.Notifications); after commit they are delivered, and
// a batch that changed a room's current state makes Push forget what it
// read of that room. A batch that changes a room's state is evaluated in
// the state it leaves, read through Rooms, State and Events. Failures are
// logged: the events are stored all the same.
type PushHook struct {
	Push   *push.Service
	Rooms  RoomStore
	State  RoomStateStore
	Events EventStore
	// Now is the clock of the notifications' timestamps; nil uses
	// time.Now.
	Now func() time.Time
	// Logger receives push failures; nil uses slog.Default().
	Logger *slog.Logger
}

var _ PersistPreparer = PushHook{}

func (h PushHook) logError(ctx context.Context, msg string, ev *NewEvent, err error) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, msg, "event_id", ev.EventID, "room_id", ev.RoomID, "err", err)
}

// PreparePersist implements PersistPreparer.
func (h PushHook) PreparePersist(ctx context.Context, events []NewEvent, opts PersistOptions) {
	if opts.Backfilled {
		return
	}
	type after struct {
		state *push.RoomState
		err   error
	}
	var changed map[string]after // rooms whose state the batch changes
	for i := range events {
		ev := &events[i]
		ev.Notifications = nil
		if ev.Outlier || ev.Rejected != "" || ev.SoftFailed {
			continue
		}
		var state *push.RoomState
		if changesState(opts, ev.RoomID) {
			a, ok := changed[ev.RoomID]
			if !ok {
				a.state, a.err = h.stateAfter(ctx, ev.RoomID, events, opts)
				if changed == nil {
					changed = map[string]after{}
				}
				changed[ev.RoomID] = a
			}
			if a.err != nil {
				h.logError(ctx, "push rules on a new event: the room's state", ev, a.err)
				continue
			}
			state = a.state
		} else if ev.Type != "m.room.member" {
			if quiet, err := h.Push.NotifiesNoOne(ctx, ev.RoomID, ev.Sender); err != nil {
				h.logError(ctx, "push rules on a new event", ev, err)
				continue
			} else if quiet {
				continue
			}
		}
		notes, err := h.Push.Evaluate(ctx, ev.RoomID, ev.EventID, ev.JSON, state)
		if err != nil {
			h.logError(ctx, "push rules on a new event", ev, err)
			continue
		}
		if len(notes) > 0 {
			now := time.Now
			if h.Now != nil {
				now = h.Now
			}
			ts := now().UnixMilli()
			for j := range notes {
				notes[j].TS = ts
			}
		}
		ev.Notifications = notes
	}
}

// EventsPersisted implements PersistHook.
func (h PushHook) EventsPersisted(ctx context.Context, events []NewEvent, opts PersistOptions) {
	for _, d := range opts.CurrentState {
		if len(d.Changes) > 0 {
			h.Push.Forget(d.RoomID)
		}
	}
	for i := range events {
		ev := &events[i]
		if err := h.Push.Deliver(ctx, ev.Notifications); err != nil {
			h.logError(ctx, "push delivery of a new event", ev, err)
		}
	}
}

// changesState reports whether a batch creates roomID or changes its
// current state.
func changesState(opts PersistOptions, roomID string) bool {
	if opts.NewRoom != nil && opts.NewRoom.RoomID == roomID {
		return true
	}
	for _, d := range opts.CurrentState {
		if d.RoomID == roomID && len(d.Changes) > 0 {
			return true
		}
	}
	return false
}

// stateAfter reads what push needs of roomID's state as the batch leaves
// it: the stored current state (none for a room the batch creates) with
// the batch's changes, the events' JSON from the batch or the store.
func (h PushHook) stateAfter(ctx context.Context, roomID string, events []NewEvent, opts PersistOptions) (*push.RoomState, error) {
	if h.Rooms == nil || h.State == nil || h.Events == nil {
		return nil, errors.New("core: the push hook has no stores to read a room's state with")
	}
	current := StateMap{}
	var version string
	if opts.NewRoom != nil && opts.NewRoom.RoomID == roomID {
		version = opts.NewRoom.RoomVersion
	} else {
		info, err := h.Rooms.Room(ctx, roomID)
		if err != nil {
			return nil, err
		}
		version = info.RoomVersion
		stored, err := h.State.CurrentState(ctx, roomID, StateTypes(push.StateTypes...))
		if err != nil {
			return nil, err
		}
		maps.Copy(current, stored)
	}
	for _, d := range opts.CurrentState {
		if d.RoomID != roomID {
			continue
		}
		for key, id := range d.Changes {
			switch {
			case !slices.Contains(push.StateTypes, key.Type):
			case id == "":
				delete(current, key)
			default:
				current[key] = id
			}
		}
	}
	batch := make(map[string][]byte, len(events))
	for i := range events {
		batch[events[i].EventID] = events[i].JSON
	}
	var missing []string
	for _, id := range current {
		if _, ok := batch[id]; !ok {
			missing = append(missing, id)
		}
	}
	var stored map[string]*StoredEvent
	if len(missing) > 0 {
		var err error
		if stored, err = h.Events.Events(ctx, missing); err != nil {
			return nil, err
		}
	}
	out := make([]push.StateEvent, 0, len(current))
	for key, id := range current {
		js, ok := batch[id]
		if !ok {
			se := stored[id]
			if se == nil {
				continue
			}
			js = se.JSON
		}
		out = append(out, push.StateEvent{Type: key.Type, StateKey: key.StateKey, JSON: js})
	}
	return push.ReadRoomState(version, out)
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
