package slidingsync

import (
	"encoding/json"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// Response is a sliding sync response.
type Response struct {
	Pos        string                 `json:"pos"`
	Lists      map[string]*ListResult `json:"lists"`
	Rooms      map[string]*Room       `json:"rooms"`
	Extensions ExtensionsResult       `json:"extensions"`
}

// ListResult is a list's answer: how many rooms pass its filters, and the
// room IDs of each range (one SYNC operation per range, as Synapse still
// sends them for clients that read them).
type ListResult struct {
	Count int  `json:"count"`
	Ops   []Op `json:"ops,omitempty"`
}

// Op is a list operation.
type Op struct {
	Op      string   `json:"op"`
	Range   []int    `json:"range"`
	RoomIDs []string `json:"room_ids"`
}

// Hero is a member shown for a room without a name.
type Hero struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// Room is a room's part of a response.
type Room struct {
	Name          string                     `json:"name,omitempty"`
	Avatar        string                     `json:"avatar,omitempty"`
	Heroes        []Hero                     `json:"heroes,omitempty"`
	IsDM          bool                       `json:"is_dm,omitempty"`
	Initial       bool                       `json:"initial,omitempty"`
	RequiredState []*clientsync.ClientEvent  `json:"required_state,omitzero"`
	Timeline      []*clientsync.ClientEvent  `json:"timeline,omitzero"`
	PrevBatch     string                     `json:"prev_batch,omitempty"`
	Limited       bool                       `json:"limited,omitempty"`
	NumLive       *int                       `json:"num_live,omitempty"`
	BumpStamp     int64                      `json:"bump_stamp,omitempty"`
	JoinedCount   *int                       `json:"joined_count,omitempty"`
	InvitedCount  *int                       `json:"invited_count,omitempty"`
	Notification  *int64                     `json:"notification_count,omitempty"`
	Highlight     *int64                     `json:"highlight_count,omitempty"`
	InviteState   []clientsync.StrippedEvent `json:"invite_state,omitzero"`
}

// ExtensionsResult are the extensions' answers.
type ExtensionsResult struct {
	ToDevice    *ToDeviceResult    `json:"to_device,omitempty"`
	E2EE        *E2EEResult        `json:"e2ee,omitempty"`
	AccountData *AccountDataResult `json:"account_data,omitempty"`
	Receipts    *RoomEvents        `json:"receipts,omitempty"`
	Typing      *RoomEvents        `json:"typing,omitempty"`
}

// ToDeviceResult is the to_device extension's answer.
type ToDeviceResult struct {
	NextBatch string                 `json:"next_batch"`
	Events    []core.ToDeviceMessage `json:"events"`
}

// E2EEResult is the e2ee extension's answer.
type E2EEResult struct {
	DeviceLists                  *core.DeviceLists `json:"device_lists,omitempty"`
	DeviceOneTimeKeysCount       map[string]int    `json:"device_one_time_keys_count"`
	DeviceUnusedFallbackKeyTypes []string          `json:"device_unused_fallback_key_types"`
}

// AccountDataResult is the account_data extension's answer.
type AccountDataResult struct {
	Global []clientsync.Event            `json:"global"`
	Rooms  map[string][]clientsync.Event `json:"rooms"`
}

// RoomEvents are the receipts or typing extension's answer: one event per
// room.
type RoomEvents struct {
	Rooms map[string]clientsync.Event `json:"rooms"`
}

// empty reports whether the response carries nothing the client has not
// seen (a long poll then keeps waiting).
func (r *Response) empty(changedLists bool) bool {
	if changedLists || len(r.Rooms) > 0 {
		return false
	}
	e := r.Extensions
	if e.ToDevice != nil && len(e.ToDevice.Events) > 0 {
		return false
	}
	if e.E2EE != nil && e.E2EE.DeviceLists != nil && (len(e.E2EE.DeviceLists.Changed) > 0 || len(e.E2EE.DeviceLists.Left) > 0) {
		return false
	}
	if e.AccountData != nil && (len(e.AccountData.Global) > 0 || len(e.AccountData.Rooms) > 0) {
		return false
	}
	if e.Receipts != nil && len(e.Receipts.Rooms) > 0 || e.Typing != nil && len(e.Typing.Rooms) > 0 {
		return false
	}
	return true
}

var _ json.Marshaler = (*clientsync.ClientEvent)(nil)
