package clientsync

import (
	"encoding/json"

	"hearth.dev/hearth/core"
)

// Request is one /sync request.
type Request struct {
	Viewer Viewer
	// Since is the token of the previous sync (nil for an initial sync).
	Since *Token
	// Filter applies to the response (nil: no filter).
	Filter *Filter
	// FullState sends the full state of every room, even with Since.
	FullState bool
	// UseStateAfter sends state_after (state up to the end of the
	// timeline) instead of state.
	UseStateAfter bool
}

// Response is a /sync response (sync.yaml).
type Response struct {
	NextBatch   string       `json:"next_batch"`
	Rooms       Rooms        `json:"rooms"`
	Presence    EventList    `json:"presence"`
	AccountData EventList    `json:"account_data"`
	ToDevice    ToDeviceList `json:"to_device"`
	// DeviceLists, DeviceOneTimeKeysCount and
	// DeviceUnusedFallbackKeyTypes are sent when the server keeps keys.
	DeviceLists                  *core.DeviceLists `json:"device_lists,omitempty"`
	DeviceOneTimeKeysCount       map[string]int    `json:"device_one_time_keys_count,omitzero"`
	DeviceUnusedFallbackKeyTypes []string          `json:"device_unused_fallback_key_types,omitzero"`

	// next is NextBatch unparsed.
	next Token
}

// Next returns the token of NextBatch.
func (r *Response) Next() Token { return r.next }

// Empty reports whether the response carries nothing new for the client
// (a long-polling sync then keeps waiting).
func (r *Response) Empty() bool {
	return len(r.Rooms.Join) == 0 && len(r.Rooms.Invite) == 0 && len(r.Rooms.Leave) == 0 && len(r.Rooms.Knock) == 0 &&
		len(r.Presence.Events) == 0 && len(r.AccountData.Events) == 0 && len(r.ToDevice.Events) == 0 &&
		(r.DeviceLists == nil || len(r.DeviceLists.Changed) == 0 && len(r.DeviceLists.Left) == 0)
}

// Rooms are the room sections of a response.
type Rooms struct {
	Join   map[string]*JoinedRoom  `json:"join"`
	Invite map[string]*InvitedRoom `json:"invite"`
	Leave  map[string]*LeftRoom    `json:"leave"`
	Knock  map[string]*KnockedRoom `json:"knock"`
}

// EventList is an object with an events array of non-room events.
type EventList struct {
	Events []Event `json:"events"`
}

// ToDeviceList is the to_device section.
type ToDeviceList struct {
	Events []core.ToDeviceMessage `json:"events"`
}

// RoomEvents is an object with an events array of room events.
type RoomEvents struct {
	Events []*ClientEvent `json:"events"`
}

// Timeline is a room's timeline section.
type Timeline struct {
	Events    []*ClientEvent `json:"events"`
	Limited   bool           `json:"limited"`
	PrevBatch string         `json:"prev_batch,omitempty"`
}

// Summary is a joined room's summary.
type Summary struct {
	Heroes             []string `json:"m.heroes,omitempty"`
	JoinedMemberCount  *int     `json:"m.joined_member_count,omitempty"`
	InvitedMemberCount *int     `json:"m.invited_member_count,omitempty"`
}

// JoinedRoom is a room of rooms.join.
type JoinedRoom struct {
	Summary                   *Summary                      `json:"summary,omitempty"`
	State                     *RoomEvents                   `json:"state,omitempty"`
	StateAfter                *RoomEvents                   `json:"state_after,omitempty"`
	Timeline                  Timeline                      `json:"timeline"`
	Ephemeral                 EventList                     `json:"ephemeral"`
	AccountData               EventList                     `json:"account_data"`
	UnreadNotifications       *NotificationCounts           `json:"unread_notifications,omitempty"`
	UnreadThreadNotifications map[string]NotificationCounts `json:"unread_thread_notifications,omitempty"`
}

// LeftRoom is a room of rooms.leave.
type LeftRoom struct {
	State       *RoomEvents `json:"state,omitempty"`
	StateAfter  *RoomEvents `json:"state_after,omitempty"`
	Timeline    Timeline    `json:"timeline"`
	AccountData EventList   `json:"account_data"`
}

// StrippedEvent is a stripped state event.
type StrippedEvent struct {
	Content  json.RawMessage `json:"content"`
	Sender   string          `json:"sender"`
	StateKey string          `json:"state_key"`
	Type     string          `json:"type"`
}

// InvitedRoom is a room of rooms.invite.
type InvitedRoom struct {
	InviteState struct {
		Events []StrippedEvent `json:"events"`
	} `json:"invite_state"`
}

// KnockedRoom is a room of rooms.knock.
type KnockedRoom struct {
	KnockState struct {
		Events []StrippedEvent `json:"events"`
	} `json:"knock_state"`
}
