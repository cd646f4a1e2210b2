// Package pdu holds the persistent data unit (a room event as servers
// exchange it): its Go shape, and the algorithms that work on one event
// alone — parsing and writing it for a room version, content hash,
// reference hash, event ID, room ID of a v12 create event, redaction and
// the event size limit. Signatures are in core/signing.
//
// Every algorithm exists in two forms: on raw event JSON (RedactJSON,
// ContentHashJSON, ReferenceHashJSON), which is what the specification
// describes and what test vectors use, and as a method on *PDU, which writes
// the event with MarshalFor and applies the same code.
//
// Importing the package has no side effects.
package pdu

import (
	"encoding/json"

	"hearth.dev/hearth/core/roomversion"
)

// PDU is one room event in federation format. Fields the spec does not name
// for the event's room version are kept in Unknown and written back out, so
// hashes and signatures over them survive a round trip.
//
// References to other events (auth_events, prev_events) are held as event
// IDs. For room versions 1 and 2, whose wire format is
// [[event_id, {"sha256": hash}], ...], the hashes are kept in
// Internal.RefHashes and written back out by MarshalFor.
type PDU struct {
	// EventID is on the wire only in room versions 1 and 2; for later
	// versions it is computed and kept here for convenience (never marshalled
	// for those versions).
	EventID        string                       `json:"event_id,omitempty"`
	RoomID         string                       `json:"room_id,omitempty"` // absent on a v12 create event
	Sender         string                       `json:"sender"`
	Type           string                       `json:"type"`
	StateKey       *string                      `json:"state_key,omitempty"`
	Content        json.RawMessage              `json:"content"`
	Redacts        *string                      `json:"redacts,omitempty"`
	OriginServerTS int64                        `json:"origin_server_ts"`
	Depth          int64                        `json:"depth"`
	AuthEvents     []string                     `json:"auth_events"`
	PrevEvents     []string                     `json:"prev_events"`
	Hashes         *Hashes                      `json:"hashes,omitempty"`
	Signatures     map[string]map[string]string `json:"signatures,omitempty"`
	Unsigned       json.RawMessage              `json:"unsigned,omitempty"`

	// Unknown holds every top-level key not named above (for example
	// "origin", "membership", "prev_state" on older versions).
	Unknown map[string]json.RawMessage `json:"-"`
	// Internal is server bookkeeping, never serialised.
	Internal InternalMeta `json:"-"`
}

// Hashes is the "hashes" object of an event.
type Hashes struct {
	SHA256 string `json:"sha256"`
	// Other holds hash algorithms other than sha256, kept for round trips.
	Other map[string]json.RawMessage `json:"-"`
}

// InternalMeta is what the server knows about an event beyond its JSON.
type InternalMeta struct {
	// RefHashes maps an event ID referenced in auth_events/prev_events to the
	// sha256 reference hash given beside it (room versions 1 and 2 only).
	RefHashes map[string]string
	// RefHashObjects holds, for room versions 1 and 2, the whole canonical
	// hash object of a reference whose object is anything other than
	// {"sha256": "..."}, so that it is written back byte for byte. It is
	// nil for every event seen in practice.
	RefHashObjects map[string]json.RawMessage
	// Outlier, Rejected and SoftFailed mirror the storage flags.
	Outlier    bool
	Rejected   string
	SoftFailed bool
}

// IsState reports whether the event is a state event.
func (p *PDU) IsState() bool { return p.StateKey != nil }

// RedactsEventID returns the ID of the event an m.room.redaction event
// redacts: content.redacts from room version 11 on, the top-level redacts
// key before. ok is false for other event types or when the key is absent
// or not a string.
func (p *PDU) RedactsEventID(v *roomversion.Version) (eventID string, ok bool) {
	if p.Type != "m.room.redaction" {
		return "", false
	}
	if !v.RedactsInContent {
		if p.Redacts == nil {
			return "", false
		}
		return *p.Redacts, true
	}
	var c struct {
		Redacts *string `json:"redacts"`
	}
	if json.Unmarshal(p.Content, &c) != nil || c.Redacts == nil {
		return "", false
	}
	return *c.Redacts, true
}
