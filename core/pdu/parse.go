package pdu

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/roomversion"
)

// MaxSize is the largest an event may be, in bytes of canonical JSON in
// federation format, signatures included.
const MaxSize = 65536

// maxFieldLen is the limit on type and state_key, in bytes.
const maxFieldLen = 255

// Errors returned by this package. Malformed JSON wraps both ErrInvalidEvent
// and canonicaljson.ErrInvalid.
var (
	// ErrInvalidEvent: the event does not follow its room version's event
	// format.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrTooLarge: the event is over MaxSize bytes.
	ErrTooLarge = errors.New("event larger than 65536 bytes")
	// ErrContentHashMismatch: the content hash does not match hashes.sha256.
	ErrContentHashMismatch = errors.New("content hash mismatch")
)

// Mode returns the canonical JSON mode of room version v: Strict from
// version 6 on, Lenient before.
func Mode(v *roomversion.Version) canonicaljson.Mode {
	if v.StrictCanonicalJSON {
		return canonicaljson.Strict
	}
	return canonicaljson.Lenient
}

// Parse reads one event in the federation format of room version v. The
// JSON is checked and canonicalised in the version's mode (strictly from
// version 6), the event is checked against the version's event format, and
// its canonical form must fit in MaxSize. For room versions 3 and later the
// event ID is computed (the reference hash) and set in EventID.
//
// hashes and signatures may be absent (an event template); signature and
// hash checks fail on such an event. Limits that are auth rules (counts of
// auth_events and prev_events) are left to the auth rules.
func Parse(v *roomversion.Version, data []byte) (*PDU, error) {
	c, err := canonicaljson.Canonicalize(data, Mode(v))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if len(c) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(c))
	}
	p, err := parseCanonical(v, c)
	if err != nil {
		return nil, err
	}
	if v.EventFormat != roomversion.FormatV1 {
		if p.EventID, err = eventIDFromCanonical(v, c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// parseCanonical fills a PDU from canonical JSON c, whose values it keeps
// as sub-slices.
func parseCanonical(v *roomversion.Version, c []byte) (*PDU, error) {
	p := &PDU{}
	var seen struct{ sender, typ, content, ts, depth, auth, prev, room, eventID bool }
	err := canonicaljson.Members(c, func(k, val []byte) error {
		var err error
		switch key := string(k); key {
		case "event_id":
			if v.EventFormat != roomversion.FormatV1 {
				p.setUnknown(key, val)
				return nil
			}
			seen.eventID = true
			if p.EventID, err = str(key, val); err != nil {
				return err
			}
			if _, err := id.ParseEventID(p.EventID); err != nil {
				return invalid("event_id: %v", err)
			}
			if _, hasServer := id.EventID(p.EventID).ServerName(); !hasServer {
				return invalid("event_id %q has no server name", p.EventID)
			}
		case "room_id":
			seen.room = true
			if p.RoomID, err = str(key, val); err != nil {
				return err
			}
			return checkRoomID(v, p.RoomID)
		case "sender":
			seen.sender = true
			if p.Sender, err = str(key, val); err != nil {
				return err
			}
			if _, err := id.ParseUserID(p.Sender); err != nil {
				return invalid("sender: %v", err)
			}
		case "type":
			seen.typ = true
			if p.Type, err = str(key, val); err != nil {
				return err
			}
			if len(p.Type) > maxFieldLen {
				return invalid("type longer than %d bytes", maxFieldLen)
			}
		case "state_key":
			sk, err := str(key, val)
			if err != nil {
				return err
			}
			if len(sk) > maxFieldLen {
				return invalid("state_key longer than %d bytes", maxFieldLen)
			}
			p.StateKey = &sk
		case "content":
			seen.content = true
			if val[0] != '{' {
				return invalid("content is not an object")
			}
			p.Content = val
		case "redacts":
			r, err := str(key, val)
			if err != nil {
				return err
			}
			p.Redacts = &r
		case "origin_server_ts":
			seen.ts = true
			p.OriginServerTS, err = integer(key, val)
			return err
		case "depth":
			seen.depth = true
			p.Depth, err = integer(key, val)
			return err
		case "auth_events":
			seen.auth = true
			p.AuthEvents, err = p.parseRefs(v, key, val)
			return err
		case "prev_events":
			seen.prev = true
			p.PrevEvents, err = p.parseRefs(v, key, val)
			return err
		case "hashes":
			p.Hashes, err = parseHashes(val)
			return err
		case "signatures":
			p.Signatures, err = parseSignatures(val)
			return err
		case "unsigned":
			if val[0] != '{' {
				return invalid("unsigned is not an object")
			}
			p.Unsigned = val
		default:
			p.setUnknown(key, val)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalidEvent) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	missing := ""
	switch {
	case !seen.sender:
		missing = "sender"
	case !seen.typ:
		missing = "type"
	case !seen.content:
		missing = "content"
	case !seen.ts:
		missing = "origin_server_ts"
	case !seen.depth:
		missing = "depth"
	case !seen.auth:
		missing = "auth_events"
	case !seen.prev:
		missing = "prev_events"
	case !seen.eventID && v.EventFormat == roomversion.FormatV1:
		missing = "event_id"
	case !seen.room && !(v.RoomIDFromCreateEvent && p.isCreate()):
		missing = "room_id"
	}
	if missing != "" {
		return nil, invalid("missing %s", missing)
	}
	return p, nil
}

func (p *PDU) isCreate() bool {
	return p.Type == "m.room.create" && p.StateKey != nil && *p.StateKey == ""
}

func (p *PDU) setUnknown(key string, val []byte) {
	if p.Unknown == nil {
		p.Unknown = make(map[string]json.RawMessage)
	}
	p.Unknown[key] = val
}

// checkRoomID checks a room ID's form for room version v: with a server
// name before version 12, the create event's hash from version 12 on.
func checkRoomID(v *roomversion.Version, s string) error {
	r, err := id.ParseRoomID(s)
	if err != nil {
		return invalid("room_id: %v", err)
	}
	if _, hasServer := r.ServerName(); hasServer == v.RoomIDFromCreateEvent {
		return invalid("room_id %q has the wrong form for room version %s", s, v.ID)
	}
	return nil
}

// checkEventID checks that s is an event ID of the form room version v
// uses.
func checkEventID(v *roomversion.Version, s string) error {
	if _, err := id.ParseEventID(s); err != nil {
		return invalid("%v", err)
	}
	if !eventIDFormMatches(v, s) {
		return invalid("event ID %q has the wrong form for room version %s", s, v.ID)
	}
	return nil
}

func eventIDFormMatches(v *roomversion.Version, s string) bool {
	_, hasServer := id.EventID(s).ServerName()
	switch v.EventIDs {
	case roomversion.EventIDLocal:
		return hasServer
	case roomversion.EventIDBase64:
		return !hasServer && !containsAny(s, "-_")
	default:
		return !hasServer && !containsAny(s, "+/")
	}
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

// parseRefs reads auth_events or prev_events: event ID strings, or for the
// v1 event format [event_id, {"sha256": hash}] pairs, whose hashes go to
// Internal.
func (p *PDU) parseRefs(v *roomversion.Version, key string, val []byte) ([]string, error) {
	if val[0] != '[' {
		return nil, invalid("%s is not an array", key)
	}
	refs := []string{}
	err := canonicaljson.Elements(val, func(el []byte) error {
		if v.EventFormat != roomversion.FormatV1 {
			s, err := str(key, el)
			if err != nil {
				return err
			}
			if err := checkEventID(v, s); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			refs = append(refs, s)
			return nil
		}
		var pair [][]byte
		if el[0] != '[' {
			return invalid("%s entry is not an [event_id, hashes] pair", key)
		}
		if err := canonicaljson.Elements(el, func(x []byte) error { pair = append(pair, x); return nil }); err != nil {
			return err
		}
		if len(pair) != 2 || pair[1][0] != '{' {
			return invalid("%s entry is not an [event_id, hashes] pair", key)
		}
		s, err := str(key, pair[0])
		if err != nil {
			return err
		}
		if err := checkEventID(v, s); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if err := p.setRefHash(s, pair[1]); err != nil {
			return err
		}
		refs = append(refs, s)
		return nil
	})
	return refs, err
}

// setRefHash records the hash object given beside a v1-format reference.
func (p *PDU) setRefHash(eventID string, obj []byte) error {
	sha, ok := onlySHA256(obj)
	if ok {
		if prev, dup := p.Internal.RefHashes[eventID]; dup && prev != sha {
			return invalid("event %s referenced with two different hashes", eventID)
		}
		if _, dup := p.Internal.RefHashObjects[eventID]; dup {
			return invalid("event %s referenced with two different hashes", eventID)
		}
		if p.Internal.RefHashes == nil {
			p.Internal.RefHashes = make(map[string]string)
		}
		p.Internal.RefHashes[eventID] = sha
		return nil
	}
	if prev, dup := p.Internal.RefHashObjects[eventID]; dup && string(prev) != string(obj) {
		return invalid("event %s referenced with two different hashes", eventID)
	}
	if _, dup := p.Internal.RefHashes[eventID]; dup {
		return invalid("event %s referenced with two different hashes", eventID)
	}
	if p.Internal.RefHashObjects == nil {
		p.Internal.RefHashObjects = make(map[string]json.RawMessage)
	}
	p.Internal.RefHashObjects[eventID] = obj
	return nil
}

// onlySHA256 returns h if the canonical object obj is exactly
// {"sha256": h} with h a string.
func onlySHA256(obj []byte) (string, bool) {
	var sha string
	n := 0
	ok := true
	err := canonicaljson.Members(obj, func(k, v []byte) error {
		n++
		if string(k) != "sha256" || v[0] != '"' {
			ok = false
			return nil
		}
		var err error
		sha, err = canonicaljson.Unquote(v)
		return err
	})
	return sha, err == nil && ok && n == 1
}

func parseHashes(val []byte) (*Hashes, error) {
	if val[0] != '{' {
		return nil, invalid("hashes is not an object")
	}
	h := &Hashes{}
	found := false
	err := canonicaljson.Members(val, func(k, v []byte) error {
		if string(k) == "sha256" {
			s, err := str("hashes.sha256", v)
			h.SHA256, found = s, true
			return err
		}
		if h.Other == nil {
			h.Other = make(map[string]json.RawMessage)
		}
		h.Other[string(k)] = v
		return nil
	})
	if err == nil && !found {
		err = invalid("hashes has no sha256")
	}
	return h, err
}

func parseSignatures(val []byte) (map[string]map[string]string, error) {
	if val[0] != '{' {
		return nil, invalid("signatures is not an object")
	}
	sigs := make(map[string]map[string]string)
	err := canonicaljson.Members(val, func(server, keys []byte) error {
		if keys[0] != '{' {
			return invalid("signatures of %q is not an object", server)
		}
		m := make(map[string]string)
		sigs[string(server)] = m
		return canonicaljson.Members(keys, func(keyID, sig []byte) error {
			s, err := str("signature", sig)
			m[string(keyID)] = s
			return err
		})
	})
	return sigs, err
}

// str decodes a JSON string value.
func str(key string, val []byte) (string, error) {
	if val[0] != '"' {
		return "", invalid("%s is not a string", key)
	}
	s, err := canonicaljson.Unquote(val)
	if err != nil {
		return "", invalid("%s: %v", key, err)
	}
	return s, nil
}

// integer decodes a JSON integer value that fits in an int64.
func integer(key string, val []byte) (int64, error) {
	n, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		return 0, invalid("%s is not an integer in the 64-bit range", key)
	}
	return n, nil
}
