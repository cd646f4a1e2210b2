// Package roomversion describes the Matrix room versions 1–12 as data: one
// Version value per version, holding the facts that differ between them
// (event format, event ID format, redaction rules, auth-rule switches,
// state resolution algorithm). Code asks a Version what to do instead of
// switching on version strings.
//
// Importing the package has no side effects.
package roomversion

import "fmt"

// ID is a room version identifier such as "10".
type ID string

// Default is the room version used for new rooms.
const Default ID = "12"

// EventFormat names the shape of events in a room version.
type EventFormat int

const (
	// FormatV1 events carry an event_id field and reference other events as
	// [event_id, {"sha256": hash}] pairs (room versions 1 and 2).
	FormatV1 EventFormat = iota + 1
	// FormatV3 events have no event_id field; the ID is the reference hash
	// and references are plain event ID strings (room versions 3 and later).
	FormatV3
)

// EventIDFormat names how event IDs are written.
type EventIDFormat int

const (
	// EventIDLocal is "$localpart:server", chosen by the origin (v1, v2).
	EventIDLocal EventIDFormat = iota + 1
	// EventIDBase64 is "$" + standard unpadded base64 of the reference hash (v3).
	EventIDBase64
	// EventIDURLSafe is "$" + URL-safe unpadded base64 of the reference hash (v4+).
	EventIDURLSafe
)

// StateRes names the state resolution algorithm.
type StateRes int

const (
	StateResV1  StateRes = iota + 1 // room version 1
	StateResV2                      // room versions 2–11
	StateResV21                     // room version 12 (state resolution v2.1)
)

// Stability is the spec's classification of a room version.
type Stability string

const (
	Stable   Stability = "stable"
	Unstable Stability = "unstable"
)

// Version holds everything that varies between room versions. The zero
// value is never valid; get one from Lookup.
type Version struct {
	ID          ID
	Stability   Stability
	EventFormat EventFormat
	EventIDs    EventIDFormat
	StateRes    StateRes

	// EnforceKeyValidity: signing keys must be valid at origin_server_ts (v5+).
	EnforceKeyValidity bool
	// SpecialCasedAliasesAuth: m.room.aliases has its own auth rule (v1–v5).
	SpecialCasedAliasesAuth bool
	// RedactionAuthRule: m.room.redaction events have their own auth rule
	// (rule 11 of v1 and v2); from v3 on they pass the auth rules like any
	// event and are checked when applied ("Handling redactions").
	RedactionAuthRule bool
	// StrictCanonicalJSON: floats, out-of-range integers and similar are
	// refused (v6+).
	StrictCanonicalJSON bool
	// LimitNotificationsPowerLevels: notifications power level is enforced
	// in the power levels auth rule (v6+).
	LimitNotificationsPowerLevels bool
	// Knock: the knock membership and join rule exist (v7+).
	Knock bool
	// Restricted: the restricted join rule exists (v8+).
	Restricted bool
	// RestrictedJoinAuthorisedViaUsersServer: the join_authorised_via_users_server
	// key of m.room.member content survives redaction (v9+).
	RestrictedJoinAuthorisedViaUsersServer bool
	// KnockRestricted: the knock_restricted join rule exists (v10+).
	KnockRestricted bool
	// IntegerPowerLevels: power level values must be integers, not strings (v10+).
	IntegerPowerLevels bool
	// ImplicitRoomCreator: the creator is the create event's sender and the
	// "creator" content key is gone (v11+).
	ImplicitRoomCreator bool
	// UpdatedRedactionRules: the v11 redaction algorithm. Top-level origin,
	// membership and prev_state are no longer kept; m.room.create keeps its
	// whole content, m.room.power_levels keeps invite, m.room.redaction
	// keeps redacts, and m.room.member keeps third_party_invite.signed.
	UpdatedRedactionRules bool
	// RedactionKeepsAliases: redaction keeps "aliases" in the content of
	// m.room.aliases events (v1–v5).
	RedactionKeepsAliases bool
	// RedactionKeepsAllow: redaction keeps "allow" in the content of
	// m.room.join_rules events (v8+).
	RedactionKeepsAllow bool
	// RedactsInContent: the redacted event's ID is content.redacts of an
	// m.room.redaction event, not a top-level "redacts" key (v11+).
	RedactsInContent bool
	// RoomIDFromCreateEvent: the room ID is derived from the create event's
	// reference hash and the create event has no room_id (v12).
	RoomIDFromCreateEvent bool
	// PrivilegedCreators: the create event's sender and additional_creators
	// have infinite power and cannot be listed in m.room.power_levels (v12).
	PrivilegedCreators bool
}

var versions = map[ID]*Version{}

func register(v Version) {
	versions[v.ID] = &v
}

func init() {
	base := Version{Stability: Stable, EventFormat: FormatV1, EventIDs: EventIDLocal,
		StateRes: StateResV1, SpecialCasedAliasesAuth: true, RedactionAuthRule: true,
		RedactionKeepsAliases: true}
	v := base
	v.ID = "1"
	register(v)
	v.ID, v.StateRes = "2", StateResV2
	register(v)
	v.ID, v.EventFormat, v.EventIDs, v.RedactionAuthRule = "3", FormatV3, EventIDBase64, false
	register(v)
	v.ID, v.EventIDs = "4", EventIDURLSafe
	register(v)
	v.ID, v.EnforceKeyValidity = "5", true
	register(v)
	v.ID, v.SpecialCasedAliasesAuth, v.StrictCanonicalJSON, v.LimitNotificationsPowerLevels = "6", false, true, true
	v.RedactionKeepsAliases = false
	register(v)
	v.ID, v.Knock = "7", true
	register(v)
	v.ID, v.Restricted, v.RedactionKeepsAllow = "8", true, true
	register(v)
	v.ID, v.RestrictedJoinAuthorisedViaUsersServer = "9", true
	register(v)
	v.ID, v.KnockRestricted, v.IntegerPowerLevels = "10", true, true
	register(v)
	v.ID, v.ImplicitRoomCreator, v.UpdatedRedactionRules, v.RedactsInContent = "11", true, true, true
	register(v)
	v.ID, v.StateRes, v.RoomIDFromCreateEvent, v.PrivilegedCreators = "12", StateResV21, true, true
	register(v)
}

// ErrUnsupported is returned by Lookup for a version this server does not know.
var ErrUnsupported = fmt.Errorf("unsupported room version")

// Lookup returns the description of room version id, or an error wrapping
// ErrUnsupported.
func Lookup(id ID) (*Version, error) {
	v, ok := versions[id]
	if !ok {
		return nil, fmt.Errorf("%q: %w", string(id), ErrUnsupported)
	}
	return v, nil
}

// All returns every known version, in ascending numeric order.
func All() []*Version {
	out := make([]*Version, 0, len(versions))
	for i := 1; i <= len(versions); i++ {
		out = append(out, versions[ID(fmt.Sprint(i))])
	}
	return out
}
