// Package eventauth implements the authorisation rules of Matrix room
// versions 1–12 (rooms/v1 … v12, "Authorisation rules"), the auth events
// selection of the server-server API, and the checks on an event's own
// auth_events.
//
// The rules come in two halves, as the checks on receipt of a PDU use them
// (server-server API, "Checks performed on receipt of a PDU"):
//
//   - CheckAuthEvents looks at the event's own auth_events list: duplicates,
//     entries the selection would not choose, rejected entries, the create
//     event, the room ID (rule 2; rule 3 in room version 12).
//   - Authorize applies every other rule against a given room state. Called
//     with the event's auth events it is check 4 (AuthorizeByAuthEvents does
//     both halves); with the state before the event, check 5 (failure:
//     reject); with the current state of the room, check 6 (failure: soft
//     fail). State resolution calls it in its iterative auth checks.
//
// A rejection is an *AuthError carrying the spec's rule number for the
// event's room version and a sentinel for errors.Is. Failures to look events
// up are returned wrapped as they come and never match ErrUnauthorized.
//
// The package is pure: no I/O, no context. Cryptographic checks it needs
// (a signature by an authorising server, third-party invite signatures) are
// function-typed fields of Options, with defaults: third-party invite
// signatures are checked with core/signing. Events passed in must have
// EventID set, also in room versions where it is computed rather than sent.
//
// Importing the package has no side effects.
package eventauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// Event types the rules look at.
const (
	TypeCreate           = "m.room.create"
	TypeMember           = "m.room.member"
	TypeJoinRules        = "m.room.join_rules"
	TypePowerLevels      = "m.room.power_levels"
	TypeThirdPartyInvite = "m.room.third_party_invite"
	TypeAliases          = "m.room.aliases"
	TypeRedaction        = "m.room.redaction"
)

// Membership and join rule values.
const (
	MembershipJoin   = "join"
	MembershipInvite = "invite"
	MembershipLeave  = "leave"
	MembershipBan    = "ban"
	MembershipKnock  = "knock"

	JoinRulePublic          = "public"
	JoinRuleInvite          = "invite"
	JoinRuleKnock           = "knock"
	JoinRuleRestricted      = "restricted"
	JoinRuleKnockRestricted = "knock_restricted"
)

// StateKey identifies one piece of room state: an event type and a state key.
type StateKey struct {
	Type     string
	StateKey string
}

func (k StateKey) String() string { return fmt.Sprintf("(%s, %q)", k.Type, k.StateKey) }

// AuthEvents returns the event that holds key in the state an event is
// checked against, or (nil, nil) when that state has none. Errors abort the
// check and are returned wrapped.
type AuthEvents func(key StateKey) (*pdu.PDU, error)

// StateMap is a room state held in memory; its Lookup method is an
// AuthEvents.
type StateMap map[StateKey]*pdu.PDU

// Lookup returns m[key].
func (m StateMap) Lookup(key StateKey) (*pdu.PDU, error) { return m[key], nil }

var _ AuthEvents = StateMap(nil).Lookup

// NewStateMap keys state events by (type, state_key); non-state events are
// skipped and a later event replaces an earlier one with the same key.
func NewStateMap(events ...*pdu.PDU) StateMap {
	m := make(StateMap, len(events))
	for _, e := range events {
		if e != nil && e.StateKey != nil {
			m[StateKey{e.Type, *e.StateKey}] = e
		}
	}
	return m
}

// Options holds the checks that need keys. A nil *Options is the zero value.
type Options struct {
	// SignedBy reports whether ev carries a valid signature of serverName
	// (the rule on join_authorised_via_users_server, room version 8+).
	// When nil, the rule only requires ev.Signatures to hold a signature
	// of serverName: the cryptographic check is then left to the signature
	// checks on receipt, which for such an event must cover that server.
	SignedBy func(ev *pdu.PDU, serverName string) bool
	// ThirdPartySigned reports whether signed, the raw
	// content.third_party_invite.signed object of an invite, holds a
	// signature that verifies under publicKey (unpadded base64, standard or
	// URL-safe, as m.room.third_party_invite gives it). When nil, the
	// ed25519 check of core/signing is used.
	ThirdPartySigned func(signed json.RawMessage, publicKey string) bool
}

// checker carries what the rules for one event share.
type checker struct {
	v     *roomversion.Version
	n     numbering
	ev    *pdu.PDU
	state AuthEvents
	opts  Options

	create   *pdu.PDU
	creators creators
	pl       *powerLevels // nil: no m.room.power_levels in state
	plLoaded bool
}

// Authorize checks ev against the authorisation rules of room version v,
// taking the room state from state. It returns nil if the event is allowed,
// an *AuthError if a rule rejects it, or a lookup error.
//
// The create event must be found at (m.room.create, "") in every room
// version; in version 12, where it is not an auth event, the caller finds
// it by the room ID (AuthorizeByAuthEvents does).
func Authorize(v *roomversion.Version, ev *pdu.PDU, state AuthEvents, opts *Options) error {
	if v == nil || ev == nil || state == nil {
		return errors.New("eventauth: Authorize needs a room version, an event and a state")
	}
	c := &checker{v: v, n: numberingFor(v), ev: ev, state: state}
	if opts != nil {
		c.opts = *opts
	}
	return c.authorize()
}

func (c *checker) authorize() error {
	n, ev := &c.n, c.ev
	// 1. If type is m.room.create: ...
	if ev.Type == TypeCreate {
		return c.authorizeCreate()
	}
	if err := c.loadCreate(); err != nil {
		return err
	}
	// 3. If the content of the m.room.create event in the room state has the
	// property m.federate set to false, and the sender domain of the event
	// does not match the sender domain of the create event, reject.
	if string(field(c.create.Content, "m.federate")) == "false" && domainOf(ev.Sender) != domainOf(c.create.Sender) {
		return reject(rule(n.federate), ErrFederationDisabled, "sender %s", ev.Sender)
	}
	// 4. (v1–v5) If type is m.room.aliases: ...
	if n.aliases != 0 && ev.Type == TypeAliases {
		return c.authorizeAliases()
	}
	// 5. If type is m.room.member: ...
	if ev.Type == TypeMember {
		return c.authorizeMember()
	}
	// 6. If the sender's current membership state is not join, reject.
	m, err := c.membership(ev.Sender)
	if err != nil {
		return err
	}
	if m != MembershipJoin {
		return reject(rule(n.joined), ErrSenderNotJoined, "membership of %s is %q", ev.Sender, m)
	}
	pl, err := c.powerLevels()
	if err != nil {
		return err
	}
	senderLevel := userLevel(pl, c.creators, ev.Sender)
	// 7. If type is m.room.third_party_invite: allow if and only if
	// sender's current power level is greater than or equal to the invite
	// level.
	if ev.Type == TypeThirdPartyInvite {
		if senderLevel >= pl.field(fieldInvite) {
			return nil
		}
		return reject(rule(n.thirdParty, 1), ErrInsufficientPower, "level %d < invite level %d", senderLevel, pl.field(fieldInvite))
	}
	// 8. If the event type's required power level is greater than the
	// sender's power level, reject.
	if req := pl.eventLevel(ev.Type, ev.IsState()); req > senderLevel {
		return reject(rule(n.required), ErrInsufficientPower, "%s needs %d, sender has %d", ev.Type, req, senderLevel)
	}
	// 9. If the event has a state_key that starts with an @ and does not
	// match the sender, reject.
	if ev.StateKey != nil && strings.HasPrefix(*ev.StateKey, "@") && *ev.StateKey != ev.Sender {
		return reject(rule(n.userStateKey), ErrStateKeyNotSender, "state_key %q", *ev.StateKey)
	}
	// 10. If type is m.room.power_levels: ...
	if ev.Type == TypePowerLevels {
		return c.authorizePowerLevels(senderLevel)
	}
	// 11. (v1, v2) If type is m.room.redaction: ...
	if n.redaction != 0 && ev.Type == TypeRedaction {
		return c.authorizeRedaction(pl, senderLevel)
	}
	// Otherwise, allow.
	return nil
}

// authorizeCreate is rule 1.
func (c *checker) authorizeCreate() error {
	n, ev, v := &c.n, c.ev, c.v
	// 1.1 If it has any prev_events, reject.
	if len(ev.PrevEvents) > 0 {
		return reject(rule(n.create, 1), ErrCreateHasPrevEvents, "")
	}
	if v.RoomIDFromCreateEvent {
		// 1.2 (v12) If the event has a room_id, reject.
		if ev.RoomID != "" {
			return reject(rule(n.create, 2), ErrCreateRoomID, "create event has room_id %q", ev.RoomID)
		}
	} else if d := domainOf(ev.RoomID); d == "" || d != domainOf(ev.Sender) {
		// 1.2 If the domain of the room_id does not match the domain of the
		// sender, reject.
		return reject(rule(n.create, 2), ErrCreateRoomID, "room %q, sender %q", ev.RoomID, ev.Sender)
	}
	var content struct {
		RoomVersion json.RawMessage `json:"room_version"`
		Creator     json.RawMessage `json:"creator"`
		Additional  json.RawMessage `json:"additional_creators"`
	}
	_ = json.Unmarshal(ev.Content, &content)
	// 1.3 If content.room_version is present and is not a recognised
	// version, reject.
	if content.RoomVersion != nil {
		var id string
		if json.Unmarshal(content.RoomVersion, &id) != nil {
			return reject(rule(n.create, 3), ErrUnknownRoomVersion, "room_version %s is not a string", content.RoomVersion)
		}
		if _, err := roomversion.Lookup(roomversion.ID(id)); err != nil {
			return reject(rule(n.create, 3), ErrUnknownRoomVersion, "room_version %q", id)
		}
	}
	// 1.4 (v1–v10) If content has no creator property, reject.
	if n.createCreator != 0 && content.Creator == nil {
		return reject(rule(n.create, n.createCreator), ErrMissingCreator, "")
	}
	// 1.4 (v12) If additional_creators is present in content and is not an
	// array of strings where each string passes the same user ID validation
	// applied to sender, reject.
	if n.createAdditional != 0 && content.Additional != nil {
		var additional []json.RawMessage
		if content.Additional[0] != '[' || json.Unmarshal(content.Additional, &additional) != nil {
			return reject(rule(n.create, n.createAdditional), ErrInvalidAdditionalCreators, "not an array")
		}
		for _, raw := range additional {
			var id string
			if json.Unmarshal(raw, &id) != nil || !validUserID(id) {
				return reject(rule(n.create, n.createAdditional), ErrInvalidAdditionalCreators, "%s is not a user ID", raw)
			}
		}
	}
	// Otherwise, allow.
	return nil
}

// loadCreate finds the room's create event: rule 2 in room version 12,
// and the part of rule 2.4 that applies to any state in earlier versions.
func (c *checker) loadCreate() error {
	create, err := c.get(TypeCreate, "")
	if err != nil {
		return err
	}
	if c.v.RoomIDFromCreateEvent {
		if err := checkRoomCreate(&c.n, c.ev, create); err != nil {
			return err
		}
	} else if create == nil {
		// 2.4 If there is no m.room.create event among the entries, reject.
		return reject(rule(c.n.authEvents, c.n.aeNoCreate), ErrNoCreateEvent, "")
	}
	c.create = create
	c.creators = roomCreators(c.v, create)
	return nil
}

// checkRoomCreate is rule 2 of room version 12: if the event's room_id is
// not an event ID for an accepted (not rejected) m.room.create event, with
// the sigil ! instead of $, reject.
func checkRoomCreate(n *numbering, ev, create *pdu.PDU) error {
	roomID := ev.RoomID
	switch {
	case create == nil:
		return reject(rule(n.roomID), ErrNoCreateEvent, "no m.room.create for %q", roomID)
	case create.Type != TypeCreate || !strings.HasPrefix(roomID, "!") || create.EventID != "$"+roomID[1:]:
		return reject(rule(n.roomID), ErrNoCreateEvent, "room %q is not named by create event %q", roomID, create.EventID)
	case create.Internal.Rejected != "":
		return reject(rule(n.roomID), ErrNoCreateEvent, "create event %q was rejected", create.EventID)
	}
	return nil
}

// authorizeAliases is rule 4 of room versions 1–5.
func (c *checker) authorizeAliases() error {
	ev := c.ev
	// 4.1 If event has no state_key, reject.
	if ev.StateKey == nil {
		return reject(rule(c.n.aliases, 1), ErrAliasesNoStateKey, "")
	}
	// 4.2 If sender's domain doesn't match state_key, reject.
	if domainOf(ev.Sender) != *ev.StateKey {
		return reject(rule(c.n.aliases, 2), ErrAliasesDomain, "state_key %q, sender %q", *ev.StateKey, ev.Sender)
	}
	// 4.3 Otherwise, allow.
	return nil
}

// authorizeRedaction is rule 11 of room versions 1 and 2.
func (c *checker) authorizeRedaction(pl *powerLevels, senderLevel int64) error {
	ev := c.ev
	// 11.1 If the sender's power level is greater than or equal to the
	// redact level, allow.
	if senderLevel >= pl.field(fieldRedact) {
		return nil
	}
	// 11.2 If the domain of the event_id of the event being redacted is the
	// same as the domain of the event_id of the m.room.redaction, allow.
	if ev.Redacts != nil {
		if d := domainOf(*ev.Redacts); d != "" && d == domainOf(ev.EventID) {
			return nil
		}
	}
	// 11.3 Otherwise, reject.
	return reject(rule(c.n.redaction, 3), ErrInsufficientPower, "level %d < redact level %d", senderLevel, pl.field(fieldRedact))
}

func (c *checker) get(typ, stateKey string) (*pdu.PDU, error) {
	e, err := c.state(StateKey{typ, stateKey})
	if err != nil {
		return nil, fmt.Errorf("eventauth: looking up %s: %w", StateKey{typ, stateKey}, err)
	}
	return e, nil
}

// membership returns user's membership in the state, "" if none.
func (c *checker) membership(user string) (string, error) {
	e, err := c.get(TypeMember, user)
	if err != nil || e == nil {
		return "", err
	}
	return contentString(e.Content, "membership"), nil
}

// joinRule returns the join rule in the state, "" if none.
func (c *checker) joinRule() (string, error) {
	e, err := c.get(TypeJoinRules, "")
	if err != nil || e == nil {
		return "", err
	}
	return contentString(e.Content, "join_rule"), nil
}

// powerLevels returns the state's power levels, nil if there are none.
func (c *checker) powerLevels() (*powerLevels, error) {
	if c.plLoaded {
		return c.pl, nil
	}
	e, err := c.get(TypePowerLevels, "")
	if err != nil {
		return nil, err
	}
	if e != nil {
		c.pl = cachedPowerLevels(c.v, e)
	}
	c.plLoaded = true
	return c.pl, nil
}
