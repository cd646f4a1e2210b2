package push

import (
	"encoding/json"
	"fmt"
	"strings"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// RoomContext is what the push rules of a room's local members need to know
// about the room when an event arrives, and what push gateways are told.
type RoomContext struct {
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

// StateTypes are the types of the current state events a RoomState is
// read from.
var StateTypes = []string{"m.room.member", "m.room.power_levels", "m.room.create", "m.room.name", "m.room.canonical_alias"}

// StateEvent is one current state event of a room: its type, state key
// and JSON (federation format).
type StateEvent struct {
	Type     string
	StateKey string
	JSON     []byte
}

// RoomState is what push keeps of a room's current state: the joined
// members and their display names, the create and power levels events,
// the room's name and canonical alias. It is immutable once read.
type RoomState struct {
	version     *roomversion.Version
	memberCount int
	names       map[string]string // joined members' display names
	create, pl  *pdu.PDU
	plContent   json.RawMessage
	name, alias string
}

// ReadRoomState reads a room of version roomVersion from its current state
// events of StateTypes (others are ignored). Events that do not parse are
// skipped.
func ReadRoomState(roomVersion string, events []StateEvent) (*RoomState, error) {
	v, err := roomversion.Lookup(roomversion.ID(roomVersion))
	if err != nil {
		return nil, fmt.Errorf("push: room version %q: %w", roomVersion, err)
	}
	rs := &RoomState{version: v, names: map[string]string{}}
	for _, se := range events {
		switch se.Type {
		case "m.room.member":
			var m struct {
				Content struct {
					Membership  string `json:"membership"`
					DisplayName any    `json:"displayname"`
				} `json:"content"`
			}
			if json.Unmarshal(se.JSON, &m) != nil || m.Content.Membership != "join" {
				continue
			}
			name, _ := m.Content.DisplayName.(string)
			rs.memberCount++
			rs.names[se.StateKey] = name
		case "m.room.power_levels", "m.room.create":
			if se.StateKey != "" {
				continue
			}
			p, err := senderAndContent(v, se.Type, se.JSON)
			if err != nil {
				continue
			}
			if se.Type == "m.room.create" {
				rs.create = p
			} else {
				rs.pl, rs.plContent = p, p.Content
			}
		case "m.room.name":
			if se.StateKey == "" {
				rs.name = contentString(se.JSON, "name")
			}
		case "m.room.canonical_alias":
			if se.StateKey == "" {
				rs.alias = contentString(se.JSON, "alias")
			}
		}
	}
	return rs, nil
}

// senderAndContent parses what a RoomState keeps of a create or power
// levels event: its sender and its content, canonical in v's mode, all
// eventauth.UserPowerLevel reads. The service keeps up to maxCachedRooms
// states: a whole parsed event also held its signatures, hashes,
// references and the canonical JSON its content was a slice of (a
// room's state came to ~4.9 KB against ~1.5 KB; TestRoomStateKeepsLittle).
func senderAndContent(v *roomversion.Version, typ string, js []byte) (*pdu.PDU, error) {
	// Members matched exactly, as pdu.Parse and the auth rules match
	// them (encoding/json would also take "Sender" or "ſender").
	var sender string
	rawSender, _ := member(js, "sender")
	content, _ := member(js, "content")
	if rawSender != nil {
		var err error
		if sender, err = canonicaljson.Unquote(rawSender); err != nil {
			return nil, fmt.Errorf("push: %s event's sender: %w", typ, err)
		}
	}
	if sender == "" || len(content) == 0 || content[0] != '{' {
		return nil, fmt.Errorf("push: %s event without a sender or content", typ)
	}
	content, err := canonicaljson.Canonicalize(content, pdu.Mode(v))
	if err != nil {
		return nil, err
	}
	stateKey := ""
	return &pdu.PDU{Type: typ, StateKey: &stateKey, Sender: sender, Content: content}, nil
}

// HasRecipient reports whether a local member other than sender is joined:
// if not, an event by sender notifies no one (but an invite, which names
// its own recipient).
func (rs *RoomState) HasRecipient(sender string, isLocal func(userID string) bool) bool {
	for u := range rs.names {
		if u != sender && isLocal(u) {
			return true
		}
	}
	return false
}

// Context returns the room as an event by sender finds it; isLocal picks the
// recipients among the joined members.
func (rs *RoomState) Context(sender string, isLocal func(userID string) bool) RoomContext {
	room := RoomContext{
		MemberCount: rs.memberCount, Recipients: map[string]string{}, PowerLevels: rs.plContent,
		SenderDisplayName: rs.names[sender], RoomName: rs.name, RoomAlias: rs.alias,
	}
	for u, name := range rs.names {
		if isLocal(u) {
			room.Recipients[u] = name
		}
	}
	switch {
	case rs.create != nil:
		room.SenderPowerLevel = eventauth.UserPowerLevel(rs.version, sender, rs.pl, rs.create)
	case rs.plContent != nil:
		room.SenderPowerLevel = userLevel(rs.plContent, sender)
	}
	return room
}

// userLevel reads a user's level from power levels content when the create
// event is not at hand: users[user], else users_default, else 0.
func userLevel(content json.RawMessage, user string) int64 {
	users, _ := member(content, "users")
	raw, ok := member(users, user)
	if !ok {
		raw, _ = member(content, "users_default")
	}
	l, _ := parseLevel(raw)
	return l
}

// contentString reads content.<key> of an event as a string ("" if absent).
func contentString(js []byte, key string) string {
	content, _ := member(js, "content")
	raw, _ := member(content, key)
	s, err := canonicaljson.Unquote(raw)
	if err != nil {
		return ""
	}
	return s
}

// WithEventID returns event JSON with an event_id member first (events of
// room versions 3 and later do not carry their ID).
func WithEventID(js []byte, eventID string) []byte {
	q, _ := json.Marshal(eventID)
	body := strings.TrimLeft(string(js), " \t\r\n")
	if !strings.HasPrefix(body, "{") {
		return js
	}
	rest := strings.TrimLeft(body[1:], " \t\r\n")
	sep := ","
	if strings.HasPrefix(rest, "}") {
		sep = ""
	}
	return []byte(`{"event_id":` + string(q) + sep + rest)
}
