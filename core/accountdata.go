package core

import (
	"context"
	"encoding/json"
)

// Account data types the server manages: clients may read them but not set
// them through the account data API (405 M_BAD_JSON). m.fully_read is set
// through /read_markers, m.push_rules through the push rule API.
const (
	AccountDataFullyRead = "m.fully_read"
	AccountDataPushRules = "m.push_rules"
	AccountDataTag       = "m.tag"
	// AccountDataIgnoredUsers is m.ignored_user_list, the users whose
	// events /sync leaves out.
	AccountDataIgnoredUsers = "m.ignored_user_list"
)

// ServerManagedAccountData reports whether clients may not set account data
// of type t directly.
func ServerManagedAccountData(t string) bool {
	return t == AccountDataFullyRead || t == AccountDataPushRules
}

// AccountDataEvent is one account data event: its type and content.
type AccountDataEvent struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// AccountDataStore keeps users' account data, global (room ID "") and per
// room, each change taking a new position in the account data stream that
// /sync reads. Room tags are the room account data m.tag. It refuses
// nothing by type: checking ServerManagedAccountData is the caller's job.
type AccountDataStore interface {
	// AccountData returns the content of one account data event (roomID ""
	// for global data). It returns an error wrapping ErrNotFound if it was
	// never set; m.push_rules is always present (the user's push rules).
	AccountData(ctx context.Context, userID, roomID, eventType string) (json.RawMessage, error)
	// SetAccountData sets an account data event's content (a JSON
	// object) and returns its stream position.
	SetAccountData(ctx context.Context, userID, roomID, eventType string, content json.RawMessage) (int64, error)
	// RoomTags returns the tags of a room (the "tags" object of m.tag;
	// empty when none).
	RoomTags(ctx context.Context, userID, roomID string) (map[string]json.RawMessage, error)
	// SetRoomTag adds or replaces one tag (content is its JSON object),
	// and DeleteRoomTag removes one (removing an absent tag changes
	// nothing). Each returns the stream position of the new m.tag.
	SetRoomTag(ctx context.Context, userID, roomID, tag string, content json.RawMessage) (int64, error)
	DeleteRoomTag(ctx context.Context, userID, roomID, tag string) (int64, error)
	// IgnoredUsers returns the user IDs of userID's m.ignored_user_list
	// (empty when none or malformed).
	IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error)
}
