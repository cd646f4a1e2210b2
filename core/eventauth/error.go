package eventauth

import (
	"errors"
	"fmt"
)

// ErrUnauthorized is matched by every *AuthError: errors.Is(err,
// ErrUnauthorized) tells a rejection by the authorisation rules apart from a
// failure to look an auth event up.
var ErrUnauthorized = errors.New("event not authorised")

// The sentinels below name why an event failed. An *AuthError wraps exactly
// one of them, so errors.Is(err, ErrSenderNotJoined) works whatever the
// room version numbers the rule.
var (
	// m.room.create rules.
	ErrCreateHasPrevEvents       = errors.New("m.room.create has prev_events")
	ErrCreateRoomID              = errors.New("m.room.create room_id is wrong for this room version")
	ErrUnknownRoomVersion        = errors.New("m.room.create names an unknown room version")
	ErrMissingCreator            = errors.New("m.room.create has no creator")
	ErrInvalidAdditionalCreators = errors.New("m.room.create has invalid additional_creators")

	// The room's create event and the event's auth_events.
	ErrNoCreateEvent        = errors.New("no accepted m.room.create event for the room")
	ErrDuplicateAuthEvent   = errors.New("duplicate (type, state_key) in auth_events")
	ErrUnexpectedAuthEvent  = errors.New("auth_events entry not chosen by the auth events selection")
	ErrRejectedAuthEvent    = errors.New("auth_events entry was itself rejected")
	ErrAuthEventInOtherRoom = errors.New("auth_events entry belongs to another room")
	ErrFederationDisabled   = errors.New("room does not federate with the sender's server")

	// m.room.aliases (room versions 1–5).
	ErrAliasesNoStateKey = errors.New("m.room.aliases has no state_key")
	ErrAliasesDomain     = errors.New("m.room.aliases state_key is not the sender's domain")

	// m.room.member rules.
	ErrMemberMalformed         = errors.New("m.room.member has no state_key or no membership")
	ErrNotSignedByAuthoriser   = errors.New("join not signed by the authorising user's server")
	ErrSenderNotTarget         = errors.New("sender does not match state_key")
	ErrBanned                  = errors.New("user is banned")
	ErrJoinNotAllowed          = errors.New("join rule does not allow this join")
	ErrAuthoriserNotAllowed    = errors.New("join_authorised_via_users_server cannot authorise joins")
	ErrThirdPartyInviteInvalid = errors.New("third-party invite does not match an m.room.third_party_invite")
	ErrThirdPartySignature     = errors.New("third-party invite signed block has no valid signature")
	ErrTargetJoinedOrBanned    = errors.New("invite target is joined or banned")
	ErrLeaveNotAllowed         = errors.New("user cannot leave without being invited, joined or knocking")
	ErrKnockNotAllowed         = errors.New("knock not allowed")
	ErrUnknownMembership       = errors.New("unknown membership")

	// Rules for every other event.
	ErrSenderNotJoined      = errors.New("sender is not joined to the room")
	ErrInsufficientPower    = errors.New("sender's power level is too low")
	ErrStateKeyNotSender    = errors.New("state_key starting with @ does not match sender")
	ErrInvalidPowerLevels   = errors.New("m.room.power_levels content is invalid")
	ErrCreatorInPowerLevels = errors.New("m.room.power_levels lists a room creator in users")
)

// ErrAuthEventNotFound is returned (wrapped) when an event's auth event or
// state lookup cannot be satisfied. It is not an *AuthError: the event is
// neither accepted nor rejected, the caller must fetch what is missing.
var ErrAuthEventNotFound = errors.New("auth event not found")

// AuthError is a rejection by the authorisation rules. Rule is the number the
// spec gives the failed rule in the event's room version ("4.3.2" in room
// version 10 is the same rule as "5.3.2" in room version 12). Where the spec
// markdown skips a number, Rule follows the published (rendered) list: room
// version 12's "room_id of an auth event" rule is "3.4".
type AuthError struct {
	Rule   string
	Err    error // one of the sentinels above
	Detail string
}

func (e *AuthError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("auth rule %s: %v", e.Rule, e.Err)
	}
	return fmt.Sprintf("auth rule %s: %v: %s", e.Rule, e.Err, e.Detail)
}

// Unwrap returns the sentinel and ErrUnauthorized.
func (e *AuthError) Unwrap() []error { return []error{e.Err, ErrUnauthorized} }

func reject(rule string, sentinel error, format string, args ...any) *AuthError {
	e := &AuthError{Rule: rule, Err: sentinel}
	if format != "" {
		e.Detail = fmt.Sprintf(format, args...)
	}
	return e
}
