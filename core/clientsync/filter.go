package clientsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"hearth.dev/hearth/core"
)

// Filter is a filter of the filter API (definitions/sync_filter.yaml):
// what /sync returns. The zero Filter selects everything.
type Filter struct {
	// EventFields lists the dot-separated paths of the event fields to
	// return (all when nil).
	EventFields []string `json:"event_fields,omitempty"`
	// EventFormat is "client" (the default) or "federation".
	EventFormat string      `json:"event_format,omitempty"`
	Presence    EventFilter `json:"presence,omitzero"`
	AccountData EventFilter `json:"account_data,omitzero"`
	Room        RoomFilter  `json:"room,omitzero"`
}

// EventFilter selects events by type and sender
// (definitions/event_filter.yaml). A nil list is absent: it does not
// restrict; an empty list matches nothing.
type EventFilter struct {
	// Limit is the most events to return (nil: the endpoint's default).
	Limit      *int     `json:"limit,omitempty"`
	NotSenders []string `json:"not_senders,omitempty"`
	NotTypes   []string `json:"not_types,omitempty"`
	Senders    []string `json:"senders,omitempty"`
	// Types may use "*" as a wildcard for any sequence of characters, as
	// may NotTypes.
	Types []string `json:"types,omitempty"`
}

// RoomEventFilter selects room events (definitions/room_event_filter.yaml).
type RoomEventFilter struct {
	EventFilter
	UnreadThreadNotifications bool     `json:"unread_thread_notifications,omitempty"`
	LazyLoadMembers           bool     `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers   bool     `json:"include_redundant_members,omitempty"`
	NotRooms                  []string `json:"not_rooms,omitempty"`
	Rooms                     []string `json:"rooms,omitempty"`
	// ContainsURL, when set, keeps only the events whose content has (true)
	// or has not (false) a url key.
	ContainsURL *bool `json:"contains_url,omitempty"`
}

// RoomFilter is the room part of a Filter.
type RoomFilter struct {
	NotRooms     []string        `json:"not_rooms,omitempty"`
	Rooms        []string        `json:"rooms,omitempty"`
	Ephemeral    RoomEventFilter `json:"ephemeral,omitzero"`
	IncludeLeave bool            `json:"include_leave,omitempty"`
	State        RoomEventFilter `json:"state,omitzero"`
	Timeline     RoomEventFilter `json:"timeline,omitzero"`
	AccountData  RoomEventFilter `json:"account_data,omitzero"`
}

// Event formats of Filter.EventFormat.
const (
	FormatClient     = "client"
	FormatFederation = "federation"
)

// ParseFilter reads and checks a filter. It returns M_NOT_JSON for text
// that is not JSON, M_BAD_JSON for JSON that is not a filter (wrong
// types, a room ID not starting with '!', a user ID not starting with
// '@', an unknown event_format, a limit that is not a positive integer).
func ParseFilter(data []byte) (*Filter, error) {
	var f Filter
	if err := decodeFilter(data, &f); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

// ParseRoomEventFilter reads and checks a RoomEventFilter (the filter
// parameter of /messages and /context), with the errors of ParseFilter.
func ParseRoomEventFilter(data []byte) (*RoomEventFilter, error) {
	var f RoomEventFilter
	if err := decodeFilter(data, &f); err != nil {
		return nil, err
	}
	if err := f.check("filter"); err != nil {
		return nil, err
	}
	return &f, nil
}

func decodeFilter(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return core.ErrNotJSON.WithMessage("filter is not JSON")
	}
	if len(data) == 0 || data[0] != '{' {
		return core.ErrBadJSON.WithMessage("filter must be a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return core.ErrBadJSON.WithMessage("filter: wrong type for %s", te.Field)
		}
		return core.ErrBadJSON.WithMessage("filter: wrong JSON type")
	}
	return nil
}

func (f *Filter) check() error {
	switch f.EventFormat {
	case "", FormatClient, FormatFederation:
	default:
		return core.ErrBadJSON.WithMessage("filter: event_format must be client or federation")
	}
	if err := f.Presence.check("presence"); err != nil {
		return err
	}
	if err := f.AccountData.check("account_data"); err != nil {
		return err
	}
	return f.Room.check()
}

func (f *RoomFilter) check() error {
	if err := checkIDs("room.rooms", f.Rooms, '!'); err != nil {
		return err
	}
	if err := checkIDs("room.not_rooms", f.NotRooms, '!'); err != nil {
		return err
	}
	for _, ef := range []struct {
		name string
		f    *RoomEventFilter
	}{
		{"room.ephemeral", &f.Ephemeral}, {"room.state", &f.State},
		{"room.timeline", &f.Timeline}, {"room.account_data", &f.AccountData},
	} {
		if err := ef.f.check(ef.name); err != nil {
			return err
		}
	}
	return nil
}

func (f *RoomEventFilter) check(name string) error {
	if err := f.EventFilter.check(name); err != nil {
		return err
	}
	if err := checkIDs(name+".rooms", f.Rooms, '!'); err != nil {
		return err
	}
	return checkIDs(name+".not_rooms", f.NotRooms, '!')
}

func (f *EventFilter) check(name string) error {
	if f.Limit != nil && *f.Limit <= 0 {
		return core.ErrBadJSON.WithMessage("filter: %s.limit must be greater than 0", name)
	}
	if err := checkIDs(name+".senders", f.Senders, '@'); err != nil {
		return err
	}
	return checkIDs(name+".not_senders", f.NotSenders, '@')
}

func checkIDs(name string, ids []string, sigil byte) error {
	for _, id := range ids {
		if len(id) < 2 || id[0] != sigil {
			return core.ErrBadJSON.WithMessage("filter: %s: %q does not start with %q", name, id, sigil)
		}
	}
	return nil
}

// LimitOr returns the filter's limit, def when it has none, and at most
// max.
func (f *EventFilter) LimitOr(def, max int) int {
	n := def
	if f.Limit != nil {
		n = *f.Limit
	}
	return min(n, max)
}

// MatchSenderType reports whether an event of type typ from sender passes
// the type and sender lists.
func (f *EventFilter) MatchSenderType(sender, typ string) bool {
	if f.NotSenders != nil && contains(f.NotSenders, sender) {
		return false
	}
	if f.Senders != nil && !contains(f.Senders, sender) {
		return false
	}
	if f.NotTypes != nil && matchAnyType(f.NotTypes, typ) {
		return false
	}
	if f.Types != nil && !matchAnyType(f.Types, typ) {
		return false
	}
	return true
}

// Restricts reports whether the filter can leave an event out for its
// type or sender.
func (f *EventFilter) Restricts() bool {
	return f.NotSenders != nil || f.Senders != nil || f.NotTypes != nil || f.Types != nil
}

// MatchRoom reports whether the filter's room lists let roomID through.
func (f *RoomEventFilter) MatchRoom(roomID string) bool {
	return matchRoom(f.Rooms, f.NotRooms, roomID)
}

// MatchRoom reports whether the filter's room lists let roomID through.
func (f *RoomFilter) MatchRoom(roomID string) bool {
	return matchRoom(f.Rooms, f.NotRooms, roomID)
}

func matchRoom(rooms, notRooms []string, roomID string) bool {
	if notRooms != nil && contains(notRooms, roomID) {
		return false
	}
	return rooms == nil || contains(rooms, roomID)
}

// Restricts reports whether the filter can leave a room event out.
func (f *RoomEventFilter) Restricts() bool {
	return f.EventFilter.Restricts() || f.Rooms != nil || f.NotRooms != nil || f.ContainsURL != nil
}

// Match reports whether the room event ev passes the filter. The content
// of ev's JSON is looked at only when contains_url is set.
func (f *RoomEventFilter) Match(ev *core.StoredEvent) bool {
	if !f.MatchRoom(ev.RoomID) || !f.MatchSenderType(ev.Sender, ev.Type) {
		return false
	}
	if f.ContainsURL != nil && *f.ContainsURL != ContainsURL(ev.JSON) {
		return false
	}
	return true
}

// ContainsURL reports whether the event JSON's content has a string url.
func ContainsURL(eventJSON []byte) bool {
	var ev struct {
		Content struct {
			URL json.RawMessage `json:"url"`
		} `json:"content"`
	}
	if json.Unmarshal(eventJSON, &ev) != nil {
		return false
	}
	return len(ev.Content.URL) > 0 && ev.Content.URL[0] == '"'
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func matchAnyType(patterns []string, typ string) bool {
	for _, p := range patterns {
		if MatchGlob(p, typ) {
			return true
		}
	}
	return false
}

// MatchGlob reports whether s matches pattern, where '*' stands for any
// sequence of characters (none included) and every other character for
// itself.
func MatchGlob(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// FilterStore keeps the filters users upload (POST /user/{userId}/filter).
type FilterStore interface {
	// PutFilter stores the filter JSON (already checked by ParseFilter)
	// for userID and returns its ID, which never starts with '{'.
	// Uploading the same JSON again may return the same ID.
	PutFilter(ctx context.Context, userID string, filter []byte) (string, error)
	// Filter returns the JSON of userID's filter filterID. It returns an
	// error wrapping core.ErrNotFound for a filter userID does not have.
	Filter(ctx context.Context, userID, filterID string) ([]byte, error)
}
