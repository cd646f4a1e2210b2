package core

import (
	"context"
	"encoding/json"

	"hearth.dev/hearth/core/push"
)

// PushRoom is what the push rules of a room's local members need to know
// about the room when an event arrives.
type PushRoom struct {
	// MemberCount is the number of joined members.
	MemberCount int
	// Recipients are the local users to evaluate the event for, with their
	// display names in the room ("" when none): the joined local members,
	// and the local target of an invite. The sender is skipped.
	Recipients map[string]string
	// SenderPowerLevel is the sender's power level, and PowerLevels the
	// content of the room's m.room.power_levels (nil when none), for
	// sender_notification_permission.
	SenderPowerLevel int64
	PowerLevels      json.RawMessage
	// SenderDisplayName, RoomName and RoomAlias are passed on to push
	// gateways ("" when unknown).
	SenderDisplayName string
	RoomName          string
	RoomAlias         string
}

// PushNotification is an event that notifies one user, as
// EventPushHook.OnEventPersisted found it.
type PushNotification struct {
	UserID  string
	RoomID  string
	EventID string
	// Event is the event's JSON as given to OnEventPersisted.
	Event   []byte
	Actions push.Actions
	Room    PushRoom
}

// EventPushHook is called for every event that reaches a room's timeline
// (sent locally or received over federation), after PersistEvents has
// committed it and before the Notifier wakes /sync: it runs the push rules
// of the room's local members, records unread notification counts and
// hands notifications to pushers.
type EventPushHook interface {
	// OnEventPersisted processes event (its JSON, with event_id, room_id,
	// type, sender and content) in roomID. It returns an error wrapping
	// ErrNotFound if the event is not stored.
	OnEventPersisted(ctx context.Context, roomID string, event []byte, room PushRoom) error
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

// NotificationStore records and counts notifications. Counts are reset by
// the user's m.read and m.read.private receipts (the further of the two),
// per thread for threaded receipts.
type NotificationStore interface {
	// RecordPushActions evaluates event for each of room.Recipients but the
	// sender against their push rules, records the events that notify
	// (unread counts, /notifications), and returns them. It returns an
	// error wrapping ErrNotFound if an event that notifies is not stored.
	RecordPushActions(ctx context.Context, roomID string, event []byte, room PushRoom) ([]PushNotification, error)
	// UnreadTotal returns userID's count of unread notifications in all
	// rooms (the unread count push gateways get).
	UnreadTotal(ctx context.Context, userID string) (int64, error)
	// Notifications lists userID's notifications, newest first, before
	// stream position from (0: from the newest), at most limit; only
	// "highlight" keeps highlighted ones. It also returns the position to
	// continue from (0 when there are no more).
	Notifications(ctx context.Context, userID string, from int64, limit int, only string) ([]Notification, int64, error)
}
